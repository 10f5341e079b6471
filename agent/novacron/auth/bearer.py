"""Extract the token from an `Authorization` header (RFC 6750 §2.1), before any handler runs."""

from __future__ import annotations

from novacron.auth.errors import AuthError


def token_from_authorization(header: str | None) -> str:
    """The bearer token in `header`; AuthError("missing token") if absent, ("malformed") if not Bearer."""
    if header is None or not header.strip():
        raise AuthError("missing token")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":  # the scheme is case-insensitive (RFC 9110 §11.1)
        raise AuthError("malformed")
    token = token.strip()
    if not token:
        raise AuthError("missing token")
    if " " in token:
        raise AuthError("malformed")
    return token
