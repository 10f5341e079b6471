"""The API's edges without a hypervisor: auth refusals, problem+json, body limit, OpenAPI."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from novacron.api.app import create_app
from novacron.api.services import AgentServices
from novacron.auth.authenticator import Authenticator
from novacron.auth.tokens import mint_token
from novacron.boot import BootProgress
from novacron.config.model import AgentConfig
from novacron.secrets.key import SigningKey, generate_key_text

ISSUER = "novacron"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(generate_key_text().encode())


@pytest.fixture
def client(key: SigningKey) -> TestClient:
    cfg = AgentConfig.model_validate({"api": {"max_body_bytes": 2048}})
    svc = AgentServices(config=cfg, progress=BootProgress())
    app = create_app(svc, Authenticator(key, ISSUER, cfg.auth.max_token_ttl_s))
    return TestClient(app, raise_server_exceptions=False)


def _auth(key: SigningKey, **kw: object) -> dict[str, str]:
    token = mint_token(key, subject="t", ttl_s=int(kw.pop("ttl", 300)), issuer=str(kw.pop("issuer", ISSUER)),
                       now=kw.pop("now", None), scopes=list(kw.pop("scopes", ["operate"])))  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def test_health_needs_no_token(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "starting"
    assert r.json()["node_id"] == "node-1"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "expected 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed"),
        ({"Authorization": "Bearer "}, "expected 'Authorization: Bearer <token>'"),
        ({"Authorization": "NovaCron-Node not-a-jws"}, "not a node of this cluster"),
    ],
)
def test_refusals_are_401_problems(client: TestClient, headers: dict[str, str], reason: str) -> None:
    r = client.get("/api/v1/vms", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith(headers.get("Authorization", "Bearer").split()[0].replace("Basic", "Bearer"))
    assert r.json()["detail"] == reason


def test_expired_token_refused(client: TestClient, key: SigningKey) -> None:
    r = client.get("/api/v1/vms", headers=_auth(key, ttl=60, now=time.time() - 3600))
    assert r.status_code == 401 and r.json()["detail"] == "expired"


def test_token_signed_with_other_key_refused(client: TestClient) -> None:
    other = SigningKey(generate_key_text().encode())
    r = client.get("/api/v1/vms", headers=_auth(other))
    assert r.status_code == 401 and r.json()["detail"] == "bad signature"


def test_unauthenticated_bad_body_gets_401_not_422(client: TestClient) -> None:
    r = client.put("/api/v1/vms/x", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 401


def test_validation_problem_names_the_field(client: TestClient, key: SigningKey) -> None:
    r = client.put("/api/v1/vms/web", json={"name": "web", "memory_mib": 1, "bogus": 1}, headers=_auth(key))
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["memory_mib"] == "must be >= 16"
    assert fields["bogus"] == "unknown field"


def test_nested_field_path(client: TestClient, key: SigningKey) -> None:
    body = {"name": "web", "disks": [{"name": "root", "size_gib": 1}, {"name": "data"}]}
    r = client.put("/api/v1/vms/web", json=body, headers=_auth(key))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "disks.1"
    assert "size_gib or base_image" in r.json()["errors"][0]["message"]


def test_service_not_started_is_503(client: TestClient, key: SigningKey) -> None:
    r = client.get("/api/v1/vms", headers=_auth(key))
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")


def test_body_over_limit_is_413(client: TestClient, key: SigningKey) -> None:
    big = {"name": "web", "labels": {f"k{i}": "v" * 200 for i in range(20)}}
    r = client.put("/api/v1/vms/web", json=big, headers=_auth(key))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unknown_route_is_problem(client: TestClient, key: SigningKey) -> None:
    r = client.get("/api/v1/nothing", headers=_auth(key))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_openapi_is_generated_from_models(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "VirtualMachineSpec" in schemas and "ConvergeResult" in schemas
    assert set(schemas["VirtualMachineSpec"]["properties"]) >= {"name", "vcpus", "memory_mib", "disks"}
    put = doc["paths"]["/api/v1/vms/{name}"]["put"]
    assert put["security"] == [{"bearerAuth": []}]
    assert "dry_run" in {p["name"] for p in put["parameters"]}


def test_a_token_minted_to_outlive_the_maximum_is_refused(client: TestClient, key: SigningKey) -> None:
    r = client.get("/api/v1/vms", headers=_auth(key, ttl=31 * 86400))
    assert r.status_code == 401 and r.json()["detail"] == "lifetime over the maximum"


def test_a_token_without_scopes_is_403_naming_the_scope(client: TestClient, key: SigningKey) -> None:
    r = client.get("/api/v1/vms", headers=_auth(key, scopes=[]))
    assert r.status_code == 403
    assert "'read' scope" in r.json()["detail"] and r.json()["field"] == "Authorization"


def test_unknown_scopes_grant_nothing(client: TestClient, key: SigningKey) -> None:
    r = client.put("/api/v1/vms/web", json={"name": "web"}, headers=_auth(key, scopes=["vms:write", "root", "*"]))
    assert r.status_code == 403


def test_openapi_documents_403(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "403" in doc["paths"]["/api/v1/vms/{name}"]["put"]["responses"]
    assert not [p for p in doc["paths"] if p.startswith("/api/v1/peer")]
