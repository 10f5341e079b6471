"""Read the YAML config, apply environment overrides, validate through `AgentConfig`.

Environment rule: `NOVACRON_<SECTION>__<FIELD>[__<FIELD>…]` sets `section.field…`, the value
parsed as YAML (so `true`, `12`, `[a, b]` work). Three short aliases from the design are kept:
`NOVACRON_NODE_ID` → `system.node_id`, `NOVACRON_DWCP_MODE` → `dwcp.forced_mode` (`auto` means
detect), `NOVACRON_LOG_LEVEL` → `system.log_level`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from novacron.config.model import AgentConfig
from novacron_sdk.validation import describe_errors, format_errors

ALIASES: dict[str, tuple[str, ...]] = {
    "NOVACRON_NODE_ID": ("system", "node_id"),
    "NOVACRON_DWCP_MODE": ("dwcp", "forced_mode"),
    "NOVACRON_LOG_LEVEL": ("system", "log_level"),
}
_PREFIX = "NOVACRON_"
_NOT_CONFIG = {"NOVACRON_URL", "NOVACRON_TOKEN", "NOVACRON_CONFIG", "NOVACRON_JWT_KEY"}


class ConfigError(Exception):
    """Config could not be loaded; `errors` lists each bad field as {"field", "message"}."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict of the overrides the environment asks for."""
    out: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(_PREFIX) or name in _NOT_CONFIG:
            continue
        if name in ALIASES:
            path = ALIASES[name]
            value: Any = raw
            if name == "NOVACRON_DWCP_MODE" and raw.strip().lower() in ("auto", ""):
                value = ""
            elif name == "NOVACRON_LOG_LEVEL":
                value = raw.strip().upper()
        elif "__" in name:
            path = tuple(p.lower() for p in name[len(_PREFIX) :].split("__"))
            try:
                value = yaml.safe_load(raw) if raw else raw
            except yaml.YAMLError:
                value = raw
        else:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def parse_config(data: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Validate a config mapping (plus env overrides) into an `AgentConfig`."""
    doc = dict(data or {})
    if environ is not None:
        doc = _merge(doc, env_overrides(environ))
    try:
        return AgentConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc), describe_errors(exc)) from None


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Load `path` (None: embedded defaults) and apply `environ` (default: os.environ)."""
    environ = os.environ if environ is None else environ
    data: Any = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return parse_config(data, environ)
