"""Two real agents in network namespaces probe each other and settle on the right DWCP mode.

Unshaped veth -> datacenter; then the same running agents on the `constrained` link (50 ms RTT,
100 Mbit/s) -> internet, without a restart. A forced mode (PUT /api/v1/mode) wins over
detection while probing continues, and `mode: auto` hands the decision back. Everything is read
through the agents' API and metrics endpoints; waits poll with a deadline, nothing is timed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mode.nsclient import NsClient
from tests.tooling.agent import AgentProcess, start_agent
from tests.tooling.netns import Testbed
from tests.tooling.netns import testbed_skip_reason as _skip_reason
from tests.tooling.wait import until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or ""),
]

PROBE_PORT = 7171
NODES = ("mode-a", "mode-b")


PACE = {"timeout": 90.0, "every": 0.3}  # two agents on an emulated link sample every ~0.5 s


def config_for(tb: Testbed, i: int) -> dict[str, Any]:
    other = 1 - i
    return {
        "api": {"listen_address": tb.addr(i), "port": 8080},
        "dwcp": {
            "listen_port": 0,
            "probe": {"port": PROBE_PORT, "interval_s": 0.2, "bandwidth_interval_s": 0.5,
                      "bandwidth_bytes": 2 << 20},
        },
        "peers": [{
            "node_id": NODES[other],
            "api_url": f"http://{tb.addr(other)}:8080",
            "probe_address": f"{tb.addr(other)}:{PROBE_PORT}",
        }],
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Testbed, list[AgentProcess], list[NsClient]]]:
    with Testbed(hosts=2, profile="datacenter") as tb:
        agents: list[AgentProcess] = []
        clients: list[NsClient] = []
        try:
            for i, node in enumerate(NODES):
                agent = start_agent(tmp_path / node, node, config_for(tb, i),
                                    wrapper=["ip", "netns", "exec", tb.ns(i)])
                agents.append(agent)
                clients.append(NsClient(tb.ns(i), agent.url, agent.token))
            yield tb, agents, clients
        finally:
            for c in clients:
                c.close()
            for a in agents:
                a.stop()


def peer_link(client: NsClient, peer: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    status = client.get("/api/v1/mode").raise_for_status().json()
    link = next((p for p in status["peers"] if p["node_id"] == peer), None)
    return status, link


def settled(client: NsClient, peer: str, mode: str, ok: Callable[[dict[str, Any]], bool]) -> Any:
    status, link = peer_link(client, peer)
    if status["mode"] == mode and link is not None and link["mode"] == mode and ok(link):
        return status, link
    return None


def test_agents_settle_on_datacenter_then_internet_and_obey_forced_mode(cluster: Any) -> None:
    tb, agents, clients = cluster
    peers = [NODES[1], NODES[0]]

    # 1. unshaped veth: short RTT and measured bandwidth above 1 Gbit/s -> datacenter
    for client, peer in zip(clients, peers, strict=True):
        status, link = until(
            f"datacenter on {client.base_url}",
            lambda c=client, p=peer: settled(
                c, p, "datacenter", lambda lk: lk["bandwidth_mbps"] is not None and lk["bandwidth_mbps"] > 1000
            ),
            **PACE,
        )
        assert link["rtt_ms"] < 10 and not status["forced"]
        assert link["predicted_mbps"] is not None and link["predicted_mbps"] > 0  # PBA saw the probes
        print(f"{client.base_url}: {link}")

    # 2. the same running agents on 50 ms / 100 Mbit/s -> internet
    tb.set_profile("constrained")
    for client, peer in zip(clients, peers, strict=True):
        status, link = until(
            f"internet on {client.base_url}",
            # bandwidth can decide first (a new level after two probes); wait for the RTT to follow too
            lambda c=client, p=peer: settled(
                c, p, "internet", lambda lk: lk["bandwidth_mbps"] < 1000 and lk["rtt_ms"] > 40
            ),
            **PACE,
        )
        assert link["rtt_ms"] > 40 and link["bandwidth_mbps"] < 1000
        assert status["last_switch_ms"] is not None
        print(f"{client.base_url}: {link} switch {status['last_switch_ms']:.3f} ms")

    metrics = clients[0].fetch(agents[0].metrics_url)
    assert 'dwcp_mode{mode="internet"} 1.0' in metrics
    for name in ("dwcp_peer_rtt_ms", "dwcp_peer_bandwidth_mbps", "dwcp_peer_loss_ratio",
                 "dwcp_peer_predicted_mbps"):
        assert f'{name}{{peer="{peers[0]}"}}' in metrics, name
    assert 'dwcp_probe_bytes_total{kind="bandwidth"}' in metrics

    # 3. forced mode wins over detection, which keeps measuring underneath
    a = clients[0]
    forced = a.put("/api/v1/mode", {"mode": "datacenter"}).raise_for_status().json()
    assert forced["mode"] == "datacenter" and forced["forced"]
    before = peer_link(a, peers[0])[1]
    assert before is not None
    after = until("new measurements while forced", lambda: (s := peer_link(a, peers[0]))[1] != before and s, **PACE)
    assert after[0]["mode"] == "datacenter" and after[0]["forced"]
    assert after[1]["mode"] == "internet"  # the peer is still seen as it is
    assert 'dwcp_mode{mode="datacenter"} 1.0' in a.fetch(agents[0].metrics_url)

    # 4. auto hands the decision back to detection
    back = a.put("/api/v1/mode", {"mode": "auto"}).raise_for_status().json()
    assert back["mode"] == "internet" and not back["forced"] and back["auto_detection"]
