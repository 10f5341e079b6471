"""Env backend: the key is the value of the variable named by `auth.key_env`.

For containers and systemd `LoadCredential`-style setups where the orchestrator injects the secret.
Nothing is generated here: an agent cannot persist a key into its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from novacron.secrets.errors import SecretsError
from novacron.secrets.key import MIN_KEY_BYTES, SigningKey


def load_key_env(name: str, environ: Mapping[str, str] | None = None) -> SigningKey:
    """Read the key from environment variable `name` (or from `environ`, for tests)."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value is None:
        raise SecretsError(
            f"environment variable {name} is not set (auth.secrets_backend is 'env')", field="auth.key_env"
        )
    material = value.strip().encode("utf-8")
    if len(material) < MIN_KEY_BYTES:
        raise SecretsError(
            f"environment variable {name} holds {len(material)} bytes; a signing key needs at least {MIN_KEY_BYTES}",
            field="auth.key_env",
        )
    return SigningKey(material)
