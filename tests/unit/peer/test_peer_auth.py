"""The boundary between clients and nodes: who may call the peer API, and what a node credential proves."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from novacron.auth.node_assertion import SCHEME, TYP, NodeSigner
from tests.tooling.certs import issue, make_ca
from tests.unit.peer.harness import Destination, Pki

pytestmark = pytest.mark.asyncio
PEER_ROUTES = [
    ("GET", "/peer/vms/web", None),
    ("POST", "/peer/migrations/m1/prepare", {"migration": {}}),
    ("POST", "/peer/migrations/m1/complete", {"migration": {}}),
    ("POST", "/peer/migrations/m1/abort", {}),
]
CLIENT_ROUTES = [
    ("GET", "/vms", None),
    ("GET", "/node", None),
    ("PUT", "/vms/web", {"name": "web"}),
    ("DELETE", "/vms/web", None),
    ("POST", "/migrations", {"vm": "web", "destination": "node-a"}),
    ("PUT", "/mode", {}),
    ("GET", "/audit", None),
    ("POST", "/tokens", {"subject": "x", "scopes": ["admin"]}),
]


@pytest.mark.parametrize("scope", ["read", "operate", "admin"])
@pytest.mark.parametrize(("method", "path", "body"), PEER_ROUTES)
async def test_client_tokens_never_reach_the_peer_api(dest: Destination, scope: str, method: str, path: str,
                                                      body: object) -> None:
    before = dest.leftovers()
    r = await dest.http.request(method, "/api/v1" + path, json=body, headers=dest.client_headers(scope))
    assert r.status_code == 403, r.text
    assert "node credentials" in r.json()["detail"]
    assert dest.leftovers() == before


@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ROUTES)
async def test_node_credentials_are_not_client_tokens(dest: Destination, method: str, path: str, body: object) -> None:
    before = dest.leftovers()
    r = await dest.peer_call("node-a", method, path, body)
    assert r.status_code == 403, r.text
    assert "only accepted on /api/v1/peer/" in r.json()["detail"]
    assert dest.leftovers() == before


async def test_a_valid_node_credential_names_its_node(dest: Destination) -> None:
    r = await dest.peer_call("node-a", "GET", "/peer/vms/nothing-here")
    assert r.status_code == 404  # authenticated, and the VM is not there


def _signed(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, claims: dict[str, object], **header: object) -> str:
    x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": TYP, "x5c": x5c, **header})


def _claims(path: str, body: bytes = b"", **over: object) -> dict[str, object]:
    from novacron.auth.node_assertion import body_hash

    now = int(time.time())
    doc: dict[str, object] = {"iss": "node-a", "aud": "node-b", "htm": "GET", "htu": "/api/v1" + path,
                              "bh": body_hash(body), "iat": now, "exp": now + 60, "jti": "j" * 20}  # fmt: skip
    doc.update(over)
    return doc


def _leaf_key(leaf_key: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(leaf_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


async def _raw(dest: Destination, token: str, path: str = "/peer/vms/web", scheme: str = SCHEME) -> int:
    r = await dest.http.get("/api/v1" + path, headers={"Authorization": f"{scheme} {token}"})
    return r.status_code


async def test_forged_and_misbound_node_credentials_are_401(dest: Destination, pki: Pki, tmp_path: Path) -> None:
    leaf = pki.leaves["node-a"]
    key, cert = _leaf_key(leaf.key), _cert(leaf.cert)
    _, other_ca, other_key = make_ca(tmp_path / "rogue", name="rogue-ca")
    rogue = issue(tmp_path / "rogue", "node-a", other_ca, other_key, hosts=("node-a",))
    (tmp_path / "ca2").mkdir()
    no_san = issue(tmp_path / "ca2", "node-a", pki.ca_cert, pki.ca_key, hosts=("127.0.0.1",))
    cases = {
        "another CA's certificate for the same name": _signed(_leaf_key(rogue.key), _cert(rogue.cert), _claims("/peer/vms/web")),
        "no DNS:<node> in the SAN": _signed(_leaf_key(no_san.key), _cert(no_san.cert), _claims("/peer/vms/web")),
        "signed by another key than the certificate's": _signed(_leaf_key(rogue.key), cert, _claims("/peer/vms/web")),
        "the CA certificate itself": _signed(pki.ca_key, pki.ca_cert, _claims("/peer/vms/web", iss="novacron-test-ca")),
        "issuer is another node": _signed(key, cert, _claims("/peer/vms/web", iss="node-c")),
        "addressed to another node": _signed(key, cert, _claims("/peer/vms/web", aud="node-c")),
        "another path": _signed(key, cert, _claims("/peer/vms/other")),
        "another method": _signed(key, cert, _claims("/peer/vms/web", htm="POST")),
        "another body": _signed(key, cert, _claims("/peer/vms/web", bh="AAAA")),
        "expired": _signed(key, cert, _claims("/peer/vms/web", iat=int(time.time()) - 600, exp=int(time.time()) - 540)),
        "lives too long": _signed(key, cert, _claims("/peer/vms/web", exp=int(time.time()) + 3600)),
        "from the future": _signed(key, cert, _claims("/peer/vms/web", iat=int(time.time()) + 600, exp=int(time.time()) + 640)),
        "no jti": _signed(key, cert, {k: v for k, v in _claims("/peer/vms/web").items() if k != "jti"}),
        "HS256 with the CA cert attached": jwt.encode(_claims("/peer/vms/web"), "k" * 40, algorithm="HS256",
                                                      headers={"typ": TYP, "x5c": ["AAAA"]}),
        "alg none": jwt.encode(_claims("/peer/vms/web"), None, algorithm="none", headers={"typ": TYP}),
        "x5c is garbage": _signed(key, cert, _claims("/peer/vms/web"), x5c=["%%%%"]),
        "x5c missing": jwt.encode(_claims("/peer/vms/web"), key, algorithm="ES256", headers={"typ": TYP}),
        "not a JWS": "a.b.c",
    }
    for name, token in cases.items():
        assert await _raw(dest, token) == 401, name


async def test_expired_node_certificate_is_401(dest: Destination, pki: Pki, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node-a")]))
            .issuer_name(pki.ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=3)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("node-a")]), critical=False)
            .sign(pki.ca_key, hashes.SHA256()))  # fmt: skip
    signer = NodeSigner("node-a", cert, key)
    r = await dest.peer_call(signer, "GET", "/peer/vms/web")
    assert r.status_code == 401 and r.json()["detail"] == "not a node of this cluster"


async def test_an_assertion_is_used_once(dest: Destination) -> None:
    signer = dest.signer("node-a")
    target = "/api/v1/peer/vms/web"
    token = signer.sign(audience="node-b", method="GET", target=target, body=b"")
    first = await dest.http.get(target, headers={"Authorization": f"{SCHEME} {token}"})
    again = await dest.http.get(target, headers={"Authorization": f"{SCHEME} {token}"})
    assert first.status_code == 404
    assert again.status_code == 401 and again.json()["detail"] == "replayed"


async def test_the_body_is_covered(dest: Destination) -> None:
    signer = dest.signer("node-a")
    target = "/api/v1/peer/migrations/m1/abort"
    signed_body = json.dumps({"phase": "failed"}).encode()
    token = signer.sign(audience="node-b", method="POST", target=target, body=signed_body)
    r = await dest.http.post(target, content=json.dumps({"phase": "cancelled"}).encode(),
                             headers={"Authorization": f"{SCHEME} {token}", "content-type": "application/json"})
    assert r.status_code == 401 and r.json()["detail"] == "does not match the request"
