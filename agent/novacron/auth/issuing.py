"""Minting and revoking client tokens: what `novacron token create|revoke` and /api/v1/tokens share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from novacron.auth.revocations import Revocations
from novacron.auth.scopes import Scope
from novacron.auth.tokens import Claims, mint_token, verify_token
from novacron.config.model import AuthConfig
from novacron.secrets.key import SigningKey
from novacron_sdk.errors import InvalidInput


class TokenIssuer:
    def __init__(self, key: SigningKey, auth: AuthConfig, revocations: Revocations | None = None) -> None:
        self.key, self.auth, self.revocations = key, auth, revocations

    def mint(self, subject: str, scopes: list[Scope], ttl_s: int | None = None) -> tuple[str, Claims]:
        """A token and its claims; InvalidInput when the lifetime is over auth.max_token_ttl_s."""
        ttl = self.auth.token_ttl_s if ttl_s is None else ttl_s
        if ttl > self.auth.max_token_ttl_s:
            raise InvalidInput(
                f"{ttl} s is longer than auth.max_token_ttl_s ({self.auth.max_token_ttl_s} s)", field="ttl_s"
            )
        if not scopes:
            raise InvalidInput("at least one scope is needed (read, operate or admin)", field="scopes")
        token = mint_token(self.key, subject=subject, ttl_s=ttl, issuer=self.auth.issuer, scopes=list(scopes))
        return token, verify_token(self.key, token, issuer=self.auth.issuer)

    def revoke(self, token_id: str, *, reason: str, by: str, expires_at: datetime | None = None) -> bool:
        """Revoke by id (blocking). Without the token's expiry, keep the entry as long as any token lives."""
        if self.revocations is None:
            raise InvalidInput("this agent keeps no revocation list", field="token_id")
        until = expires_at or datetime.fromtimestamp(datetime.now(UTC).timestamp() + self.auth.max_token_ttl_s, UTC)
        return self.revocations.revoke(token_id, expires_at=until, reason=reason, by=by)


def describe(claims: Claims) -> dict[str, Any]:
    return {
        "token_id": claims.token_id, "subject": claims.subject, "scopes": list(claims.scopes),
        "expires_at": datetime.fromtimestamp(claims.expires_at, UTC),
    }  # fmt: skip
