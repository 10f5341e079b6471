"""ModeService: status/update round trip, switching live settings, metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from novacron.config.model import AgentConfig, DwcpConfig, SystemConfig
from novacron.dwcp.mode.detector import LinkSample
from novacron.dwcp.mode.profiles import ModeProfile, profile_for
from novacron.dwcp.mode.rollout import Flags, rollout_bucket
from novacron.dwcp.probe.tcpinfo import TcpInfo
from novacron.transport.mode.service import ModeService
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeSettings, ModeStatus


class FakeClock:
    """Advances 1 ms per reading, so the measured switch time is known exactly."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


def make(**dwcp: object) -> tuple[ModeService, CollectorRegistry]:
    reg = CollectorRegistry()
    cfg = AgentConfig(system=SystemConfig(node_id="node-7"), dwcp=DwcpConfig(**dwcp))
    return ModeService(cfg, clock=FakeClock(), registry=reg), reg


def metric(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_detection_switches_live_settings_and_publishes_metrics() -> None:
    svc, reg = make()
    got: list[ModeProfile] = []
    svc.live.subscribe(got.append, replay=False)
    st = svc.status()
    assert st.mode == "datacenter" and not st.forced and st.auto_detection and st.peers == []
    assert st.last_switch_ms is None
    assert metric(reg, "dwcp_mode", mode="datacenter") == 1.0
    assert metric(reg, "dwcp_mode_switches_total") == 0.0

    decisions = svc.on_link_sample("edge-1", LinkSample(120.0, 300.0))
    assert [d.scope for d in decisions] == ["peer", "node"]
    internet = profile_for("internet", svc.dwcp)
    assert svc.profile == internet and got == [internet]
    st = svc.status()
    assert st.mode == "internet"
    assert st.last_switch_ms == pytest.approx(1.0)  # one clock tick between decision and effect
    assert [(p.node_id, p.mode, p.rtt_ms, p.bandwidth_mbps) for p in st.peers] == [
        ("edge-1", "internet", 120.0, 300.0)
    ]
    assert metric(reg, "dwcp_mode", mode="internet") == 1.0
    assert metric(reg, "dwcp_mode", mode="datacenter") == 0.0
    assert metric(reg, "dwcp_peer_rtt_ms", peer="edge-1") == 120.0
    assert metric(reg, "dwcp_peer_bandwidth_mbps", peer="edge-1") == 300.0
    assert metric(reg, "dwcp_mode_switch_seconds") == pytest.approx(0.001)
    assert metric(reg, "dwcp_mode_switches_total") == 1.0

    svc.remove_peer("edge-1")
    assert svc.mode == "datacenter" and metric(reg, "dwcp_mode_switches_total") == 2.0
    assert metric(reg, "dwcp_peer_rtt_ms", peer="edge-1") is None
    assert svc.remove_peer("edge-1") == []


def test_update_round_trip() -> None:
    svc, reg = make()
    svc.on_link_sample("a", LinkSample(1.0, 10000.0))
    st = svc.update(ModeSettings(mode="internet", enable_v3_prediction=False, v3_rollout_percentage=40))
    assert isinstance(st, ModeStatus)
    assert (st.mode, st.forced, st.enable_v3_prediction, st.v3_rollout_percentage) == (
        "internet",
        True,
        False,
        40,
    )
    assert st.in_rollout == (rollout_bucket("node-7") < 4000)
    assert svc.profile.mode == "internet" and svc.dwcp.forced_mode == "internet"
    assert st == svc.status()
    # Fields left out keep their value; "auto" returns to detection.
    st = svc.update({"mode": "auto"})
    assert (st.mode, st.forced, st.auto_detection) == ("datacenter", False, True)
    assert (st.enable_v3_prediction, st.v3_rollout_percentage) == (False, 40)
    assert svc.dwcp.forced_mode == "" and svc.profile.mode == "datacenter"
    assert metric(reg, "dwcp_mode_switches_total") == 2.0
    # Unchanged mode: no switch counted.
    svc.update({"enable_v3_transport": False})
    assert metric(reg, "dwcp_mode_switches_total") == 2.0
    inside = st.in_rollout
    assert svc.flags == Flags(transport=False, compression=inside, prediction=False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"v3_rollout_percentage": 150}, "v3_rollout_percentage"),
        ({"mode": "lan"}, "mode"),
        ({"enable_v3_transport": "maybe"}, "enable_v3_transport"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_update_rejects_bad_input_naming_the_field(body: dict[str, object], field: str) -> None:
    svc, _ = make()
    with pytest.raises(InvalidInput) as exc:
        svc.update(body)
    assert exc.value.field == field
    assert svc.status().v3_rollout_percentage == 100  # nothing half-applied


def test_config_forced_mode_and_auto_detection_off() -> None:
    svc, reg = make(forced_mode="hybrid")
    assert svc.status().forced and svc.mode == "hybrid" and svc.profile.mode == "hybrid"
    assert metric(reg, "dwcp_mode", mode="hybrid") == 1.0
    for _ in range(5):
        svc.on_link_sample("a", LinkSample(200.0, 10.0))
    assert svc.mode == "hybrid" and svc.status().peers[0].mode == "internet"

    svc, _ = make(enable_auto_detection=False)
    for _ in range(5):
        svc.on_link_sample("a", LinkSample(200.0, 10.0))
    assert svc.mode == "datacenter" and not svc.status().auto_detection
    assert svc.update({"mode": "auto"}).mode == "internet"


def test_tcp_info_snapshots_feed_detection() -> None:
    svc, reg = make()
    base = dict(state=1, ca_state=0, retransmits=0, rto_us=0, snd_mss=1448, rcv_mss=1448, unacked=0, lost=0)
    base |= dict(retrans=0, pmtu=1500, rttvar_us=1000, snd_ssthresh=0, snd_cwnd=10)
    prev = TcpInfo(delivery_rate_app_limited=False, rtt_us=80_000, total_retrans=0, segs_out=1000,
                   delivery_rate=25_000_000, **base)  # fmt: skip
    cur = TcpInfo(delivery_rate_app_limited=False, rtt_us=80_000, total_retrans=20, segs_out=2000,
                  delivery_rate=25_000_000, **base)  # fmt: skip
    svc.on_tcp_info("wan", cur, prev)
    link = svc.status().peers[0]
    assert (link.mode, link.rtt_ms, link.bandwidth_mbps) == ("internet", 80.0, 200.0)
    assert link.loss_ratio == pytest.approx(0.02)
    assert metric(reg, "dwcp_peer_bandwidth_mbps", peer="wan") == 200.0


def test_peer_link_and_the_cautious_link_figure_a_migration_plans_with() -> None:
    from novacron.migration.deps import Deps

    svc, _ = make()
    assert svc.peer_link("edge-1") is None
    svc.on_link_sample("edge-1", LinkSample(60.0, 800.0))
    link = svc.peer_link("edge-1")
    assert link is not None and link.bandwidth_mbps == 800.0 and link.predicted_mbps is None
    deps = Deps(AgentConfig(system=SystemConfig(node_id="node-7")),
                None, None, None, svc, None, None, None, None)  # type: ignore[arg-type]  # fmt: skip
    assert deps.link_mbps("edge-1") == 800.0 and deps.link_mbps("nobody") is None
    svc.set_prediction_source(lambda peer: 250.0 if peer == "edge-1" else None)
    assert svc.peer_link("edge-1").predicted_mbps == 250.0  # type: ignore[union-attr]
    assert deps.link_mbps("edge-1") == 250.0  # the lower of measured and predicted
    svc.set_prediction_source(lambda peer: 2000.0)
    assert deps.link_mbps("edge-1") == 800.0


def test_busy_spans_open_close_and_expire() -> None:
    """A migration marks its link busy from both ends; spans close by token, or expire."""
    svc, _ = make()
    assert not svc.link_busy("edge-1")
    svc.begin_busy("edge-1", "m1", 10.0)
    svc.begin_busy("edge-1", "m2", 10.0)
    assert svc.link_busy("edge-1") and not svc.link_busy("edge-2")
    svc.end_busy("edge-1", "m1")
    assert svc.link_busy("edge-1")  # m2 still runs
    svc.end_busy("edge-1", "m2")
    svc.end_busy("edge-1", "m2")  # twice, or never begun: harmless
    svc.end_busy("edge-9", "mx")
    assert not svc.link_busy("edge-1")
    svc.begin_busy("edge-1", "lost", 0.0005)  # its end never comes: the clock ends it
    assert not svc.link_busy("edge-1")
