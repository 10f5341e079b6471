"""The one error a secrets backend raises: it names the config field to fix, never the secret."""

from __future__ import annotations

from novacron_sdk.errors import NovacronError


class SecretsError(NovacronError):
    """The signing key (or another secret) could not be loaded or stored.

    `field` is the dotted config path to look at (`auth.key_file`, `auth.key_env`, ...). The message
    describes the problem only: no secret value, token or key material is ever put in it.
    """

    status = 500
    title = "Secrets backend error"
