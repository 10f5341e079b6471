"""ModeDetector: hysteresis against synthetic noisy sequences, step changes, force/auto, peers."""

from __future__ import annotations

import random

import pytest

from novacron.dwcp.mode.detector import LinkSample, ModeChanged, ModeDetector
from novacron_sdk.errors import InvalidInput


def feed(det: ModeDetector, peer: str, samples: list[LinkSample]) -> list[list[ModeChanged]]:
    return [det.on_sample(peer, s) for s in samples]


def peer_changes(out: list[list[ModeChanged]]) -> list[ModeChanged]:
    return [d for step in out for d in step if d.scope == "peer"]


def noisy_around_10ms(n: int, seed: int) -> list[LinkSample]:
    rng = random.Random(seed)
    return [LinkSample(rng.uniform(7.0, 13.0), rng.uniform(4000, 6000)) for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_link_oscillating_around_10ms_does_not_flap(seed: int) -> None:
    samples = noisy_around_10ms(1000, seed)
    det = ModeDetector()
    changes = peer_changes(feed(det, "b", samples))
    assert len(changes) == 1 and changes[0].old is None  # only the first classification

    # The same sequence without hysteresis flaps constantly: the test input really is noisy.
    naive = ModeDetector(enter_samples=1, margin=0.0, alpha=1.0)
    assert len(peer_changes(feed(naive, "b", samples))) > 100


def test_alternating_values_on_both_boundaries_do_not_flap() -> None:
    rtt_seq = [LinkSample(9.0 if i % 2 else 11.0, 5000) for i in range(200)]
    bw_seq = [LinkSample(3.0, 900 if i % 2 else 1100) for i in range(200)]
    for seq in (rtt_seq, bw_seq):
        det = ModeDetector()
        assert len(peer_changes(feed(det, "b", seq))) == 1


def test_step_change_switches_after_exactly_k_samples_without_smoothing() -> None:
    for k in (1, 3, 5):
        det = ModeDetector(enter_samples=k, alpha=1.0)
        feed(det, "b", [LinkSample(1.0, 10000)] * 20)
        out = feed(det, "b", [LinkSample(100.0, 200)] * 10)
        first = next(i for i, step in enumerate(out) if step)
        assert first == k - 1  # the k-th sample after the step
        assert det.status().peers[0].mode == "internet"


def test_step_change_with_smoothing_switches_within_a_few_samples() -> None:
    det = ModeDetector()  # enter_samples=3, alpha=0.25, margin 20%
    feed(det, "b", [LinkSample(1.0, 10000)] * 50)
    out = feed(det, "b", [LinkSample(100.0, 200)] * 20)
    idx = [i for i, step in enumerate(out) if step]
    assert idx and 2 <= idx[0] <= 8
    node = [d for d in out[idx[0]] if d.scope == "node"]
    assert node == [ModeChanged("node", "b", "datacenter", "internet", node[0].reason)]
    # ...and back again when the link recovers.
    back = feed(det, "b", [LinkSample(1.0, 10000)] * 30)
    assert det.mode == "datacenter"
    assert len(peer_changes(back)) == 1


def test_single_spike_does_not_switch() -> None:
    det = ModeDetector()
    feed(det, "b", [LinkSample(1.0, 10000)] * 20)
    out = feed(det, "b", [LinkSample(500.0, 10000)] + [LinkSample(1.0, 10000)] * 30)
    assert peer_changes(out) == []
    assert det.mode == "datacenter"


def test_a_link_change_the_rtt_alone_leaves_in_hybrid_is_followed_by_its_bandwidth() -> None:
    """Measured on the test bed: datacenter (17 Gbit/s) -> 50 ms / 100 Mbit/s. RTT samples come every
    few seconds, bandwidth only from idle probes tens of seconds apart (~60 Mbit/s each)."""
    det = ModeDetector()
    feed(det, "b", [LinkSample(0.5, 17500)] * 5)
    feed(det, "b", [LinkSample(50.5)] * 10)  # RTT alone: just above 50 ms, inside hybrid's margin
    assert det.status().peers[0].mode == "hybrid"
    feed(det, "b", [LinkSample(50.5, 60)])  # one probe: one sample could be an outlier
    assert det.status().peers[0].bandwidth_mbps > 10000
    out = feed(det, "b", [LinkSample(50.5, 60)] + [LinkSample(50.5)] * 5)  # the second: a new level
    assert det.status().peers[0].bandwidth_mbps == 60
    assert [c.new for c in peer_changes(out)] == ["internet"]


def test_bandwidth_outliers_on_alternate_sides_do_not_reset_the_average() -> None:
    det = ModeDetector()
    feed(det, "b", [LinkSample(0.5, 10000)] * 5)
    for bw in (1000, 50000, 1000, 50000):  # each 5x away, but never twice on the same side
        feed(det, "b", [LinkSample(0.5, bw)])
    bw_now = det.status().peers[0].bandwidth_mbps
    assert 5000 < bw_now < 30000 and det.mode == "datacenter"


def test_node_mode_from_peers_and_fallback() -> None:
    det = ModeDetector()
    assert det.mode == "datacenter"  # no peers: default
    out = det.on_sample("a", LinkSample(1.0, 10000))
    assert [d.scope for d in out] == ["peer"]  # node was already datacenter
    out = det.on_sample("b", LinkSample(120.0, 100))
    assert out[-1] == ModeChanged("node", "b", "datacenter", "hybrid", out[-1].reason)  # mixed
    out = det.remove_peer("a")
    assert out == [ModeChanged("node", None, "hybrid", "internet", "peer a removed")]
    assert det.remove_peer("a") == []
    det.remove_peer("b")
    assert det.mode == "datacenter"
    assert ModeDetector(fallback="internet").mode == "internet"


def test_forced_mode_overrides_detection() -> None:
    det = ModeDetector(forced="internet")
    assert det.mode == "internet"
    out = feed(det, "a", [LinkSample(1.0, 10000)] * 5)
    assert all(d.scope == "peer" for step in out for d in step)
    assert det.mode == "internet"
    assert det.detected() == "datacenter"
    assert det.force(None) == [ModeChanged("node", None, "internet", "datacenter", "forced mode cleared")]
    assert det.force("hybrid")[0].new == "hybrid"
    with pytest.raises(InvalidInput) as exc:
        det.force("fast")  # type: ignore[arg-type]
    assert exc.value.field == "mode"


def test_auto_detection_off_keeps_configured_mode() -> None:
    det = ModeDetector(auto_detection=False, fallback="hybrid")
    feed(det, "a", [LinkSample(200.0, 50)] * 10)
    assert det.mode == "hybrid"
    assert det.status().peers[0].mode == "internet"  # measurement continues
    out = det.set_auto_detection(True)
    assert out[0].new == "internet"
    assert det.set_auto_detection(False)[0].new == "hybrid"


def test_status_reports_smoothed_measurements() -> None:
    det = ModeDetector(alpha=0.5)
    det.on_sample("b", LinkSample(10.0, 1000, 0.0))
    det.on_sample("b", LinkSample(20.0, None, 0.02))
    det.on_sample("a", LinkSample(1.0))
    st = det.status()
    assert [p.node_id for p in st.peers] == ["a", "b"]
    b = st.peers[1]
    assert b.rtt_ms == pytest.approx(15.0)
    assert b.rtt_var_ms == pytest.approx(0.75 * 5.0 + 0.25 * 10.0)  # RFC 6298 beta 1/4
    assert b.bandwidth_mbps == pytest.approx(1000.0)  # a sample without bandwidth keeps the old one
    assert b.loss_ratio == pytest.approx(0.01)
    assert st.peers[0].bandwidth_mbps is None and st.peers[0].mode == "datacenter"
    assert det.peer("zz") is None and det.peer("a") == st.peers[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rtt_ms": -1.0}, "rtt_ms"),
        ({"rtt_ms": 1.0, "bw_mbps": -5.0}, "bw_mbps"),
        ({"rtt_ms": 1.0, "loss": 1.5}, "loss"),
    ],
)
def test_bad_samples_are_rejected(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        LinkSample(**kwargs)
    assert exc.value.field == field


def test_bad_detector_parameters() -> None:
    for kwargs, field in (
        ({"enter_samples": 0}, "enter_samples"),
        ({"margin": 1.0}, "margin"),
        ({"alpha": 0.0}, "alpha"),
        ({"fallback": "x"}, "fallback"),
    ):
        with pytest.raises(InvalidInput) as exc:
            ModeDetector(**kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
    with pytest.raises(InvalidInput) as exc:
        ModeDetector().on_sample("", LinkSample(1.0))
    assert exc.value.field == "peer"
