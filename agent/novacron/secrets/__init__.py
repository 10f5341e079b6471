"""Where the agent's secrets come from: a file, the environment, or Vault / OpenBao.

`load_signing_key(config)` is the one entry point; every backend hands back a `SigningKey`, whose
repr never shows the value, so a stray log line or traceback cannot leak it.
"""

from novacron.secrets.backends import load_signing_key
from novacron.secrets.errors import SecretsError
from novacron.secrets.key import MIN_KEY_BYTES, SigningKey, generate_key_text

__all__ = ["MIN_KEY_BYTES", "SecretsError", "SigningKey", "generate_key_text", "load_signing_key"]
