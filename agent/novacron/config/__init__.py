"""Loading, overriding and rendering the agent's config file (the model is config/model.py)."""

from novacron.config.loader import ConfigError, load_config
from novacron.config.render import render_default_config

__all__ = ["ConfigError", "load_config", "render_default_config"]
