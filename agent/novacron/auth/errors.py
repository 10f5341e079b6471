"""The 401 error: one type, one short reason that is safe to show the caller."""

from __future__ import annotations

from typing import Literal

from novacron_sdk.errors import NovacronError

# The whole vocabulary. Reasons say what is wrong with the token, never what the token or key is.
AuthReason = Literal[
    "missing token",
    "malformed",
    "expected 'Authorization: Bearer <token>'",
    "unsupported algorithm",
    "bad signature",
    "expired",
    "not yet valid",
    "wrong issuer",
    "wrong audience",
    "revoked",
    "lifetime over the maximum",
    "not a node of this cluster",
    "does not match the request",
    "replayed",
]


class AuthError(NovacronError):
    """The request carries no acceptable bearer token. The API answers 401 with `www_authenticate`."""

    status = 401
    title = "Unauthorized"

    def __init__(self, reason: AuthReason, scheme: str = "Bearer") -> None:
        super().__init__(reason, field="Authorization")
        self.reason: AuthReason = reason
        self.scheme = scheme

    @property
    def www_authenticate(self) -> str:
        """The `WWW-Authenticate` header value (RFC 6750 §3): no error code when no token was sent."""
        if self.reason == "missing token":
            return f'{self.scheme} realm="novacron"'
        return f'{self.scheme} realm="novacron", error="invalid_token", error_description="{self.reason}"'
