"""Pick the backend named by `auth.secrets_backend` and load the JWT signing key from it."""

from __future__ import annotations

from novacron.config.model import AgentConfig
from novacron.secrets.env_backend import load_key_env
from novacron.secrets.file_backend import load_key_file
from novacron.secrets.key import SigningKey


def load_signing_key(config: AgentConfig, *, create: bool = True) -> SigningKey:
    """The agent's JWT signing key; the agent and `novacron token create` both call this.

    `create`: on first start, generate a key where the backend can store one (file, Vault).
    The env backend never creates. Raises `SecretsError` naming the config field to fix.
    """
    auth = config.auth
    if auth.secrets_backend == "file":
        return load_key_file(config.jwt_key_file(), create=create)
    if auth.secrets_backend == "env":
        return load_key_env(auth.key_env)
    # hvac (and requests) cost a noticeable share of boot; only Vault users pay for them.
    from novacron.secrets.vault_backend import load_key_vault

    return load_key_vault(auth, create=create)
