"""A real agent process on free ports: boot, /health, /metrics, auth, shutdown, boot failure."""

from __future__ import annotations

import http.client
import subprocess
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.tooling.agent import start_agent

pytestmark = pytest.mark.integration


def test_agent_boots_healthy_with_boot_metrics(agent) -> None:  # type: ignore[no-untyped-def]
    health = httpx.get(agent.url + "/health").json()
    assert health["status"] == "healthy"
    assert health["node_id"] == "node-1"
    assert health["phase"] == 4
    components = health["components"]
    for name in ("environment", "security", "database", "hypervisor", "api", "monitoring", "ready"):
        assert components[name]["state"] == "running", (name, components[name])
    assert components["database"]["phase"] == 2 and components["api"]["phase"] == 3

    metrics = urllib.request.urlopen(agent.metrics_url, timeout=5).read().decode()
    for metric in ('phase_duration_seconds{phase="1"}', 'component_init_duration_seconds{component="api"}',
                   "total_boot_time_seconds", 'component_status{component="api",state="running"} 1.0',
                   "initialization_errors_total"):
        assert metric in metrics, metric
    assert "dwcp_mode" in metrics


def test_metrics_not_on_api_port(agent) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(agent.url + "/metrics").status_code in (401, 404)


def test_api_requires_token_and_accepts_minted_one(agent) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(agent.url + "/api/v1/node").status_code == 401
    r = httpx.get(agent.url + "/api/v1/node", headers={"Authorization": f"Bearer {agent.token}"})
    assert r.status_code == 200
    assert r.json()["node_id"] == "node-1"
    assert r.json()["accel"] == "test"


def test_secret_never_in_health_or_log(agent) -> None:  # type: ignore[no-untyped-def]
    key = (agent.data_dir / "jwt.key").read_text().strip()
    assert oct((agent.data_dir / "jwt.key").stat().st_mode & 0o777) == "0o600"
    httpx.get(agent.url + "/api/v1/node", headers={"Authorization": f"Bearer {agent.token}"})
    assert key not in httpx.get(agent.url + "/health").text
    agent.stop()
    log = "\n".join(agent.output)
    assert key not in log and agent.token not in log


def test_idle_keepalive_outlives_the_peer_clients_pool(agent) -> None:  # type: ignore[no-untyped-def]
    """A peer agent reuses a pooled connection after a migration's seconds of silence: the server
    must keep it open past the client's own expiry (migration/peer.py), or the request meets the
    close ("Server disconnected without sending a response"). Same socket, 6 s apart: uvicorn's
    default 5 s closed it."""
    import time

    from novacron.migration import peer
    from novacron.runtime import server

    url = httpx.URL(agent.url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    statuses = []
    for pause in (0.0, 6.0):
        time.sleep(pause)
        conn.request("GET", "/health")  # on the first one's socket: http.client never reconnects
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    conn.close()
    assert statuses == [200, 200]
    assert peer.KEEPALIVE_S < server.KEEPALIVE_S  # the client gives up on an idle connection first


def test_sigterm_shuts_down_cleanly(agent) -> None:  # type: ignore[no-untyped-def]
    assert agent.stop() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(agent.url + "/health", timeout=2)


def test_env_override_node_id(agent_factory) -> None:  # type: ignore[no-untyped-def]
    a = agent_factory("cfg-name", env={"NOVACRON_NODE_ID": "from-env"})
    assert httpx.get(a.url + "/health").json()["node_id"] == "from-env"


def test_boot_failure_exits_nonzero_naming_component(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as info:
        start_agent(tmp_path / "bad", "bad", overrides={"hypervisor": {"uri": "qemu+unix:///system?socket=/nonexistent/sock"}},
                    timeout=60)
    text = str(info.value)
    assert "exited 1" in text
    assert "hypervisor" in text and "boot failed" in text


def test_busy_api_port_fails_boot_with_field_name(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RuntimeError) as info:
            start_agent(tmp_path / "busy", "busy", overrides={"api": {"port": port}}, timeout=60)
    assert "api.port" in str(info.value)


def test_status_cli_prints_components(agent) -> None:  # type: ignore[no-untyped-def]
    from tests.tooling.agent import VENV_BIN

    out = subprocess.run([str(VENV_BIN / "novacron"), "status", "--url", agent.url],
                         capture_output=True, text=True, check=True).stdout
    assert "status HEALTHY" in out and "database" in out and "phase 4 (post-init)" in out


def test_https_when_a_certificate_is_configured(agent_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.tooling.certs import issue, make_ca

    ca_path, ca_cert, ca_key = make_ca(tmp_path / "pki")
    leaf = issue(tmp_path / "pki", "agent", ca_cert, ca_key)
    a = agent_factory("tls-node", overrides={"api": {"tls_cert": str(leaf.cert), "tls_key": str(leaf.key)}})
    assert a.url.startswith("https://")
    assert httpx.get(a.url + "/health", verify=str(ca_path)).json()["status"] == "healthy"
    r = httpx.get(a.url + "/api/v1/node", verify=str(ca_path), headers={"Authorization": f"Bearer {a.token}"})
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):  # an unknown CA is refused
        httpx.get(a.url + "/health")
    with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP on the TLS port
        httpx.get(a.url.replace("https://", "http://") + "/health")
