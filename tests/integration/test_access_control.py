"""Client access on a real agent: scoped tokens from the CLI, a bounded lifetime, revocation from
another process, the audit log, and a store record that would have stopped the boot."""

from __future__ import annotations

import getpass
import json
import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.tooling.agent import VENV_BIN, _env, mint_token, start_agent
from tests.tooling.wait import until

pytestmark = pytest.mark.integration
NOVACRON = str(VENV_BIN / "novacron")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NOVACRON, *args], capture_output=True, text=True, env=_env(), timeout=60)


def test_scopes_from_the_cli(agent) -> None:  # type: ignore[no-untyped-def]
    read, operate, admin = (mint_token(agent.config_path, scope=s) for s in ("read", "operate", "admin"))
    spec = {"name": "scoped", "memory_mib": 64}
    assert httpx.get(agent.url + "/api/v1/vms", headers=_auth(read)).status_code == 200
    refused = httpx.put(agent.url + "/api/v1/vms/scoped", json=spec, headers=_auth(read))
    assert refused.status_code == 403 and "'operate' scope" in refused.json()["detail"]
    assert httpx.put(agent.url + "/api/v1/vms/scoped", json=spec, headers=_auth(operate)).status_code == 200
    assert httpx.get(agent.url + "/api/v1/audit", headers=_auth(operate)).status_code == 403
    audit = httpx.get(agent.url + "/api/v1/audit", headers=_auth(admin)).json()
    puts = [(e["method"], e["path"], e["status"]) for e in audit if e["path"] == "/api/v1/vms/scoped"]
    assert puts == [("PUT", "/api/v1/vms/scoped", 200), ("PUT", "/api/v1/vms/scoped", 403)]
    assert all(admin not in json.dumps(e) and operate not in json.dumps(e) for e in audit)  # no secrets


@pytest.mark.parametrize(("args", "needle"), [
    (["--ttl", "99999999999"], "--ttl"), (["--ttl", str(31 * 86400)], "max_token_ttl_s"),
    (["--scope", "root"], "unknown scope 'root'"), (["--scope", "read,sudo"], "unknown scope 'sudo'"),
])  # fmt: skip
def test_token_create_refuses_what_it_must(agent, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    done = _cli("token", "create", "--config", str(agent.config_path), *args)
    assert done.returncode == 2 and needle in done.stderr, done.stderr
    assert done.stdout == ""


def test_revocation_from_another_process_takes_hold(agent) -> None:  # type: ignore[no-untyped-def]
    made = _cli("token", "create", "--config", str(agent.config_path), "--scope", "read", "--json")
    token = json.loads(made.stdout)
    assert httpx.get(agent.url + "/api/v1/vms", headers=_auth(token["token"])).status_code == 200
    done = _cli("token", "revoke", token["token_id"], "--config", str(agent.config_path), "--reason", "test")
    assert done.returncode == 0, done.stderr
    until("the revoked token refused",
          lambda: httpx.get(agent.url + "/api/v1/vms", headers=_auth(token["token"])).status_code == 401, timeout=10)
    r = httpx.get(agent.url + "/api/v1/vms", headers=_auth(token["token"]))
    assert r.json()["detail"] == "revoked"
    assert httpx.get(agent.url + "/api/v1/vms", headers=_auth(agent.token)).status_code == 200  # others unaffected


def test_revocation_through_the_api_holds_at_once_and_survives_a_restart(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "a", "node-r")
    try:
        admin = mint_token(agent.config_path, scope="admin")
        issued = httpx.post(agent.url + "/api/v1/tokens", headers=_auth(admin),
                            json={"subject": "ci", "scopes": ["read"], "ttl_s": 600}).json()
        assert httpx.get(agent.url + "/api/v1/node", headers=_auth(issued["token"])).status_code == 200
        r = httpx.delete(agent.url + f"/api/v1/tokens/{issued['token_id']}", headers=_auth(admin),
                         params={"reason": "leaked"})  # fmt: skip
        assert r.status_code == 200
        assert r.json()["revoked_by"] == f"{getpass.getuser()}@{socket.gethostname()}"  # the admin token's subject
        assert httpx.get(agent.url + "/api/v1/node", headers=_auth(issued["token"])).status_code == 401
        agent.stop()
        agent = start_agent(tmp_path / "a", "node-r")
        assert httpx.get(agent.url + "/api/v1/node", headers=_auth(issued["token"])).json()["detail"] == "revoked"
        too_long = httpx.post(agent.url + "/api/v1/tokens", headers=_auth(admin),
                              json={"subject": "ci", "scopes": ["admin"], "ttl_s": 40 * 86400})
        assert too_long.status_code == 422 and too_long.json()["field"] == "ttl_s"
    finally:
        agent.stop()


def test_an_unreadable_record_does_not_stop_the_boot(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "a", "node-q")
    token = agent.token
    httpx.put(agent.url + "/api/v1/vms/fine", json={"name": "fine", "memory_mib": 64}, headers=_auth(token))
    agent.stop()
    db = sqlite3.connect(agent.data_dir / "novacron.db")
    with db:
        db.execute("UPDATE vms SET spec = ? WHERE name = 'fine'", (json.dumps({"name": 123}),))
        now = "2024-01-01T00:00:00+00:00"
        db.execute("INSERT INTO vms VALUES ('odd', ?, NULL, NULL, 'node-q', '{}', ?, ?)",
                   (json.dumps({"name": "odd", "memory_mib": "lots"}), now, now))  # fmt: skip
    db.close()
    agent = start_agent(tmp_path / "a", "node-q")
    try:
        health = httpx.get(agent.url + "/health").json()
        assert health["status"] == "degraded" and health["quarantined_records"] == 2
        assert httpx.get(agent.url + "/api/v1/vms", headers=_auth(token)).status_code == 200
        assert httpx.get(agent.url + "/api/v1/node", headers=_auth(token)).status_code == 200
        admin = mint_token(agent.config_path, scope="admin")
        items = httpx.get(agent.url + "/api/v1/store/quarantine", headers=_auth(admin)).json()
        assert sorted(i["key"] for i in items) == ["fine", "odd"]
        for item in items:
            assert httpx.delete(agent.url + f"/api/v1/store/quarantine/{item['id']}", headers=_auth(admin)).status_code == 204
        assert httpx.get(agent.url + "/health").json()["status"] == "healthy"
    finally:
        agent.stop()
