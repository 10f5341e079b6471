"""Mint and verify the agent's HS256 bearer tokens.

Only HS256 is accepted, checked from the header before PyJWT sees the token, so neither
`alg: none` nor an asymmetric algorithm (the RS256/HS256 key-confusion attack) can get through.
PyJWT verifies the signature only; the time and issuer claims are checked here against an
injectable `now`, so tests need no clock and every failure maps to one of the reasons in
`AuthReason`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from novacron.auth.errors import AuthError
from novacron.secrets.key import SigningKey
from novacron_sdk.errors import InvalidInput

ALGORITHM = "HS256"
_REQUIRED = ("iss", "sub", "iat", "nbf", "exp", "jti")
# A token is a few hundred bytes; refusing huge ones early keeps HMAC and JSON work bounded.
_MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says: who it is for and until when."""

    issuer: str
    subject: str
    issued_at: int
    not_before: int
    expires_at: int
    token_id: str
    scopes: tuple[str, ...] = ()


def mint_token(
    key: SigningKey,
    *,
    subject: str,
    ttl_s: int,
    issuer: str,
    scopes: list[str] | None = None,
    now: float | None = None,
) -> str:
    """A signed token for `subject`, valid from `now` for `ttl_s` seconds."""
    if not subject:
        raise InvalidInput("must not be empty", field="subject")
    if not issuer:
        raise InvalidInput("must not be empty", field="issuer")
    if ttl_s <= 0:
        raise InvalidInput(f"must be a positive number of seconds (got {ttl_s})", field="ttl_s")
    if scopes is not None and any(not s or " " in s for s in scopes):
        raise InvalidInput("each scope must be a non-empty string without spaces", field="scopes")
    iat = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "iat": iat,
        "nbf": iat,
        "exp": iat + int(ttl_s),
        "jti": secrets.token_hex(16),
    }
    if scopes:
        claims["scope"] = " ".join(scopes)  # RFC 8693 §4.2 / RFC 9068: space-separated
    return jwt.encode(claims, key.material, algorithm=ALGORITHM)


def verify_token(
    key: SigningKey, token: str | None, *, issuer: str, now: float | None = None, leeway_s: int = 5,
    max_ttl_s: int | None = None,
) -> Claims:
    """The token's claims if it is well-formed, HS256-signed by `key`, current and from `issuer`.

    Raises `AuthError` with a safe reason otherwise. Signature first, then time, then issuer: a
    forged token learns nothing about which of its claims would have passed. With `max_ttl_s`, a
    token that was minted to live longer is refused even while it is current: whoever holds the
    key cannot hand out tokens that outlive the configured maximum.
    """
    if not token:
        raise AuthError("missing token")
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthError("malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError("unsupported algorithm")
    try:
        payload = jwt.decode(
            token,
            key.material,
            algorithms=[ALGORITHM],
            options={"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False, "verify_aud": False, "verify_iss": False, "verify_sub": False,
                     "verify_jti": False},
        )
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError("unsupported algorithm") from None
    except jwt.PyJWTError:
        raise AuthError("malformed") from None
    claims = _claims(payload)
    t = time.time() if now is None else now
    if t > claims.expires_at + leeway_s:
        raise AuthError("expired")
    if t + leeway_s < claims.not_before:
        raise AuthError("not yet valid")
    if claims.issuer != issuer:
        raise AuthError("wrong issuer")
    if max_ttl_s is not None and claims.expires_at - claims.not_before > max_ttl_s + leeway_s:
        raise AuthError("lifetime over the maximum")
    return claims


def _claims(payload: dict[str, Any]) -> Claims:
    """Type-check the payload; anything missing or of the wrong type is simply malformed."""
    if any(name not in payload for name in _REQUIRED):
        raise AuthError("malformed")
    times = [payload[n] for n in ("iat", "nbf", "exp")]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in times):
        raise AuthError("malformed")
    texts = [payload[n] for n in ("iss", "sub", "jti")]
    if any(not isinstance(v, str) or not v for v in texts):
        raise AuthError("malformed")
    scope = payload.get("scope", "")
    if not isinstance(scope, str):
        raise AuthError("malformed")
    return Claims(
        issuer=payload["iss"],
        subject=payload["sub"],
        issued_at=int(payload["iat"]),
        not_before=int(payload["nbf"]),
        expires_at=int(payload["exp"]),
        token_id=payload["jti"],
        scopes=tuple(scope.split()),
    )
