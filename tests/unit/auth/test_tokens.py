from __future__ import annotations

import base64
import json

import jwt
import pytest

from novacron.auth import AuthError, Claims, mint_token, verify_token
from novacron.secrets import SigningKey
from novacron_sdk.errors import InvalidInput

KEY = SigningKey("token-test-signing-key-0123456789abcdefghijkl")
OTHER = SigningKey("another-signing-key-0123456789abcdefghijklmn")
NOW = 1_700_000_000.0


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _reason(token: str | None, *, key: SigningKey = KEY, issuer: str = "novacron", now: float = NOW) -> str:
    with pytest.raises(AuthError) as info:
        verify_token(key, token, issuer=issuer, now=now)
    assert info.value.status == 401
    return info.value.reason


def test_round_trip() -> None:
    token = mint_token(KEY, subject="ops@example", ttl_s=600, issuer="novacron", scopes=["vms:write"], now=NOW)
    claims = verify_token(KEY, token, issuer="novacron", now=NOW + 10)
    assert isinstance(claims, Claims)
    assert (claims.subject, claims.issuer, claims.scopes) == ("ops@example", "novacron", ("vms:write",))
    assert (claims.issued_at, claims.not_before, claims.expires_at) == (int(NOW), int(NOW), int(NOW) + 600)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    other = mint_token(KEY, subject="ops@example", ttl_s=600, issuer="novacron", now=NOW)
    assert verify_token(KEY, other, issuer="novacron", now=NOW).token_id != claims.token_id


def test_expired_after_ttl_plus_leeway() -> None:
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="novacron", now=NOW)
    assert verify_token(KEY, token, issuer="novacron", now=NOW + 64).subject == "a"  # within leeway
    assert _reason(token, now=NOW + 66) == "expired"


def test_not_yet_valid() -> None:
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="novacron", now=NOW + 100)
    assert _reason(token) == "not yet valid"


def test_tampered_payload_is_bad_signature() -> None:
    token = mint_token(KEY, subject="viewer", ttl_s=60, issuer="novacron", now=NOW)
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    assert _reason(f"{header}.{_b64(claims)}.{sig}") == "bad signature"


def test_tampered_signature_is_bad_signature() -> None:
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="novacron", now=NOW)
    header, payload, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert _reason(f"{header}.{payload}.{flipped}") == "bad signature"


def test_token_from_another_key_is_bad_signature() -> None:
    token = mint_token(OTHER, subject="a", ttl_s=60, issuer="novacron", now=NOW)
    assert _reason(token) == "bad signature"


def test_alg_none_is_refused() -> None:
    payload = {"iss": "novacron", "sub": "a", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "jti": "x"}
    for alg in ("none", "None", "NONE"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(payload)}."
        assert _reason(token) == "unsupported algorithm"


def test_other_hmac_algorithm_is_refused_even_with_the_right_key() -> None:
    payload = {"iss": "novacron", "sub": "a", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "jti": "x"}
    long_key = SigningKey("k" * 64)  # long enough that PyJWT itself would accept HS512
    token = jwt.encode(payload, long_key.material, algorithm="HS512")
    assert _reason(token, key=long_key) == "unsupported algorithm"


def test_wrong_issuer() -> None:
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="someone-else", now=NOW)
    assert _reason(token) == "wrong issuer"


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "x" * 10_000, "...", "eyJ.eyJ.eyJ"],
)
def test_garbage_is_malformed(garbage: str) -> None:
    assert _reason(garbage) == "malformed"


def test_missing_claims_are_malformed() -> None:
    token = jwt.encode({"iss": "novacron", "sub": "a", "exp": NOW + 60}, KEY.material, algorithm="HS256")
    assert _reason(token) == "malformed"


def test_wrongly_typed_claims_are_malformed() -> None:
    payload = {"iss": "novacron", "sub": "a", "iat": NOW, "nbf": NOW, "exp": "later", "jti": "x"}
    assert _reason(jwt.encode(payload, KEY.material, algorithm="HS256")) == "malformed"


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(token: str | None) -> None:
    assert _reason(token) == "missing token"


def test_www_authenticate_header() -> None:
    assert AuthError("missing token").www_authenticate == 'Bearer realm="novacron"'
    assert 'error="invalid_token"' in AuthError("expired").www_authenticate
    assert 'error_description="expired"' in AuthError("expired").www_authenticate


def test_reason_never_contains_token_or_key() -> None:
    token = mint_token(OTHER, subject="a", ttl_s=60, issuer="novacron", now=NOW)
    with pytest.raises(AuthError) as info:
        verify_token(KEY, token, issuer="novacron", now=NOW)
    text = str(info.value)
    assert token not in text and KEY.material.decode() not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"subject": ""}, "subject"), ({"ttl_s": 0}, "ttl_s"), ({"issuer": ""}, "issuer"),
     ({"scopes": ["a b"]}, "scopes")],
)
def test_mint_rejects_bad_arguments(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"subject": "a", "ttl_s": 60, "issuer": "novacron", **kwargs}
    with pytest.raises(InvalidInput) as info:
        mint_token(KEY, **args)  # type: ignore[arg-type]
    assert info.value.field == field
