"""Node credentials for the peer API: one signed assertion per request, bound to the node's certificate.

An agent calling a peer signs a short JWS (ES256) with the private key of its node certificate and
puts the certificate in the header (`x5c`). The receiving agent checks that its cluster CA issued
the certificate, takes the node id from it, and checks the signature and what the assertion is
bound to: the audience (the receiving node), the method, the path and query, and a SHA-256 of the
body; it lives 60 s and its `jti` is refused a second time. So a stolen or overheard assertion
cannot be replayed, pointed at another node, or reused for another request, and the node id a
handler sees is the one the certificate proves (the style of RFC 7523 client assertions and DPoP,
RFC 9449). Client tokens (HS256, the shared key) never pass here, and these never pass as them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from novacron.auth.errors import AuthError
from novacron.pki.identity import ClusterCA, IdentityError

SCHEME = "NovaCron-Node"
ALGORITHM = "ES256"
TYP = "nc-node+jwt"
TTL_S = 60
SKEW_S = 30
_MAX_CHARS = 16384
_MAX_REMEMBERED = 200_000


def body_hash(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


class NodeSigner:
    """Signs this node's requests to its peers with the key of its node certificate."""

    def __init__(self, node_id: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the node key must be an EC P-256 key (ES256)")
        self.node_id = node_id
        self._key = key
        self._x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]

    @classmethod
    def load(cls, node_id: str, cert_path: str | Path, key_path: str | Path) -> NodeSigner:
        cert = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())[0]
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: the node key must be an EC P-256 key")
        return cls(node_id, cert, key)

    def sign(self, *, audience: str, method: str, target: str, body: bytes, now: float | None = None) -> str:
        """An assertion for one request: `target` is the path with its query string."""
        iat = int(time.time() if now is None else now)
        claims = {
            "iss": self.node_id, "aud": audience, "htm": method.upper(), "htu": target,
            "bh": body_hash(body), "iat": iat, "exp": iat + TTL_S, "jti": secrets.token_urlsafe(18),
        }  # fmt: skip
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": TYP, "x5c": self._x5c})


class NodeVerifier:
    """Checks assertions addressed to node `me` against the cluster CA; remembers used `jti`s."""

    def __init__(self, ca: ClusterCA, me: str, clock: Callable[[], float] = time.time) -> None:
        self.ca, self.me, self._clock = ca, me, clock
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, token: str, *, method: str, target: str, body: bytes) -> str:
        """The calling node's id; AuthError with a safe reason otherwise."""
        if not token or len(token) > _MAX_CHARS:
            raise AuthError("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed") from None
        if header.get("alg") != ALGORITHM or header.get("typ") != TYP:
            raise AuthError("unsupported algorithm")
        now = self._clock()
        cert = _leaf(header.get("x5c"))
        try:
            identity = self.ca.identify(cert, datetime.fromtimestamp(now, UTC))
        except IdentityError:
            raise AuthError("not a node of this cluster") from None
        try:
            claims = jwt.decode(token, cert.public_key(), algorithms=[ALGORITHM], options=_SIGNATURE_ONLY)
        except jwt.InvalidSignatureError:
            raise AuthError("bad signature") from None
        except jwt.PyJWTError:
            raise AuthError("malformed") from None
        self._check(claims, identity.node_id, method=method, target=target, body=body, now=now)
        return identity.node_id

    def _check(self, claims: dict[str, Any], node: str, *, method: str, target: str, body: bytes, now: float) -> None:
        iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
        if not (_is_int(iat) and _is_int(exp) and isinstance(jti, str) and 8 <= len(jti) <= 128):
            raise AuthError("malformed")
        if claims.get("iss") != node:
            raise AuthError("wrong issuer")
        if claims.get("aud") != self.me:
            raise AuthError("wrong audience")
        if exp - iat > TTL_S or iat > now + SKEW_S:
            raise AuthError("not yet valid")
        if now > exp + SKEW_S:
            raise AuthError("expired")
        if claims.get("htm") != method.upper() or claims.get("htu") != target or claims.get("bh") != body_hash(body):
            raise AuthError("does not match the request")
        self._remember(f"{node}/{jti}", exp + SKEW_S, now)

    def _remember(self, key: str, until: float, now: float) -> None:
        with self._lock:
            if key in self._used:
                raise AuthError("replayed")
            if len(self._used) >= _MAX_REMEMBERED:
                self._used = {k: t for k, t in self._used.items() if t >= now}
                if len(self._used) >= _MAX_REMEMBERED:  # a flood of valid, signed assertions: refuse, not forget
                    raise AuthError("replayed")
            self._used[key] = until


_SIGNATURE_ONLY = {
    "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
    "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
}  # fmt: skip


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _leaf(x5c: object) -> x509.Certificate:
    if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str) or len(x5c[0]) > 8192:
        raise AuthError("malformed")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except ValueError:
        raise AuthError("malformed") from None
