"""Where the tooling keeps things worth reusing between runs (guest kernel, libvirt probes).

Why: a fresh CI machine builds them once; later runs (or machines sharing the folder) skip the
download and the slow probing. Everything in it can be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "NOVACRON_TEST_CACHE"


def default_cache_dir() -> Path:
    """$NOVACRON_TEST_CACHE, else /var/cache/novacron-test when writable, else <repo>/.cache/novacron-test."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    system = Path("/var/cache/novacron-test")
    if os.access(system if system.exists() else system.parent, os.W_OK):
        return system
    return Path(__file__).resolve().parents[2] / ".cache" / "novacron-test"
