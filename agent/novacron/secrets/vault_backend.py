"""Vault / OpenBao backend: the key is field `key` of the KV v2 secret `auth.vault_mount`/`auth.vault_path`.

When the secret is missing and creation is allowed, a new key is written with check-and-set
version 0 ("only if no version exists"), so two agents starting together cannot each write their
own key: the loser's write is rejected and it reads the winner's key.

Errors name the config field and what Vault said, never the token (hvac's messages carry the URL
and Vault's error list only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import hvac
import hvac.exceptions
import requests

from novacron.config.model import AuthConfig
from novacron.secrets.errors import SecretsError
from novacron.secrets.key import MIN_KEY_BYTES, SigningKey, generate_key_text

KEY_FIELD = "key"
_TIMEOUT_S = 10


def load_key_vault(
    auth: AuthConfig, *, create: bool = True, environ: Mapping[str, str] | None = None
) -> SigningKey:
    """Read (and with `create`, initialise) the signing key stored in Vault / OpenBao."""
    client = _client(auth, os.environ if environ is None else environ)
    where = f"{auth.vault_mount}/{auth.vault_path}"
    data = _read(client, auth)
    if data is None:
        if not create:
            raise SecretsError(f"no secret at {where} in {client.url} (and creating it was not allowed)",
                               field="auth.vault_path")
        _create(client, auth)
        data = _read(client, auth)
        if data is None:
            # CAS failed but nothing readable exists: the latest version is deleted or destroyed.
            raise SecretsError(
                f"secret {where} exists but its latest version is deleted; undelete it or pick another path",
                field="auth.vault_path",
            )
    return _key_from(data, where)


def _client(auth: AuthConfig, env: Mapping[str, str]) -> hvac.Client:
    addr = auth.vault_addr or env.get("VAULT_ADDR", "")
    if not addr:
        raise SecretsError("no Vault address: set auth.vault_addr or VAULT_ADDR", field="auth.vault_addr")
    if not addr.startswith(("http://", "https://")):
        raise SecretsError(f"must start with http:// or https:// (got {addr!r})", field="auth.vault_addr")
    token = auth.vault_token.get_secret_value() if auth.vault_token is not None else env.get("VAULT_TOKEN", "")
    if not token:
        raise SecretsError("no Vault token: set auth.vault_token or VAULT_TOKEN", field="auth.vault_token")
    return hvac.Client(url=addr, token=token, timeout=_TIMEOUT_S)


def _read(client: hvac.Client, auth: AuthConfig) -> dict[str, Any] | None:
    """The secret's data, or None when there is no (live) version."""
    try:
        resp = client.secrets.kv.v2.read_secret_version(
            path=auth.vault_path, mount_point=auth.vault_mount, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return None
    except Exception as exc:  # translated into one error naming the field
        raise _translate(exc, client, auth, "read") from None
    data = resp.get("data", {}).get("data")
    return data if isinstance(data, dict) else {}


def _create(client: hvac.Client, auth: AuthConfig) -> None:
    try:
        client.secrets.kv.v2.create_or_update_secret(
            path=auth.vault_path, secret={KEY_FIELD: generate_key_text()}, cas=0, mount_point=auth.vault_mount
        )
    except hvac.exceptions.InvalidRequest as exc:
        if "check-and-set" in str(exc):
            return  # someone else wrote it first; the caller reads theirs
        raise _translate(exc, client, auth, "write") from None
    except Exception as exc:
        raise _translate(exc, client, auth, "write") from None


def _key_from(data: dict[str, Any], where: str) -> SigningKey:
    value = data.get(KEY_FIELD)
    if not isinstance(value, str):
        raise SecretsError(f"secret {where} has no string field {KEY_FIELD!r}", field="auth.vault_path")
    material = value.strip().encode("utf-8")
    if len(material) < MIN_KEY_BYTES:
        raise SecretsError(
            f"field {KEY_FIELD!r} of secret {where} holds {len(material)} bytes; a signing key needs at least "
            f"{MIN_KEY_BYTES}",
            field="auth.vault_path",
        )
    return SigningKey(material)


def _translate(exc: Exception, client: hvac.Client, auth: AuthConfig, verb: str) -> SecretsError:
    where = f"{auth.vault_mount}/{auth.vault_path}"
    if isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
        return SecretsError(f"Vault at {client.url} refused to {verb} {where}: permission denied "
                            "(check the token and its policy)", field="auth.vault_token")
    if isinstance(exc, requests.exceptions.RequestException):
        return SecretsError(f"cannot reach Vault at {client.url}: {type(exc).__name__}", field="auth.vault_addr")
    if isinstance(exc, hvac.exceptions.VaultError):
        said = "; ".join(str(e) for e in (exc.errors or [])) or type(exc).__name__
        return SecretsError(f"Vault could not {verb} {where}: {said}", field="auth.vault_path")
    return SecretsError(f"Vault could not {verb} {where}: {type(exc).__name__}", field="auth.vault_path")
