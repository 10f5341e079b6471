"""Sans-I/O probe pieces: RFC 6298 estimator, probe scheduler, ping/pong wire and pinger."""

from __future__ import annotations

import pytest

from novacron.dwcp.probe.rtt import RttEstimator
from novacron.dwcp.probe.scheduler import ProbeScheduler
from novacron.dwcp.probe.wire import FRAME_SIZE, Ping, Pinger, Pong, ProbeWireError, answer, decode, encode
from novacron_sdk.errors import InvalidInput


def test_rtt_estimator_follows_rfc6298() -> None:
    est = RttEstimator()
    assert est.srtt_ms is None and est.rto_ms == 1000.0  # RFC 6298 2.1: 1 s before any sample
    est.on_sample(100.0)
    assert (est.srtt_ms, est.rttvar_ms) == (100.0, 50.0)  # 2.2
    assert est.rto_ms == pytest.approx(100.0 + 4 * 50.0)
    est.on_sample(60.0)  # 2.3: RTTVAR first, with the old SRTT
    assert est.rttvar_ms == pytest.approx(0.75 * 50.0 + 0.25 * 40.0)
    assert est.srtt_ms == pytest.approx(0.875 * 100.0 + 0.125 * 60.0)
    for _ in range(200):
        est.on_sample(1.0)
    assert est.srtt_ms == pytest.approx(1.0, abs=1e-6)
    assert est.rto_ms == est.min_rto_ms  # floor applies
    est.reset()
    assert est.samples == 0 and est.srtt_ms is None
    with pytest.raises(InvalidInput) as exc:
        est.on_sample(float("nan"))
    assert exc.value.field == "rtt_ms"
    with pytest.raises(InvalidInput) as exc:
        RttEstimator(alpha=0)
    assert exc.value.field == "alpha"


def test_scheduler_pings_on_interval_and_probes_bandwidth_only_when_idle() -> None:
    s = ProbeScheduler(ping_interval_s=1.0, bandwidth_interval_s=30.0, idle_after_s=5.0)
    assert s.poll(0.0) == ["ping", "bandwidth"]  # nothing known yet
    s.on_sent("ping", 0.0)
    s.on_sent("bandwidth", 0.0)
    assert s.poll(0.5) == []
    assert s.poll(1.0) == ["ping"]
    s.on_sent("ping", 1.0)
    s.on_bandwidth_done()
    assert s.poll(29.0) == ["ping"]  # bandwidth probe not due before 30 s
    # A migration starts: its samples replace active bandwidth probes.
    for t in range(29, 100):
        s.on_transfer_sample(float(t))
        assert "bandwidth" not in s.poll(float(t) + 0.5)
        assert s.transfer_active(float(t) + 0.5)
    # Idle again: the next probe waits one interval after the last transfer sample.
    assert not s.transfer_active(105.0)
    assert "bandwidth" not in s.poll(110.0)
    assert "bandwidth" in s.poll(129.0)
    assert s.next_due(101.0) == pytest.approx(101.0)  # ping is overdue
    s.on_sent("ping", 101.0)
    assert s.next_due(101.0) == pytest.approx(102.0)
    s.on_sent("bandwidth", 129.0)
    assert "bandwidth" not in s.poll(500.0)  # one in flight at a time
    with pytest.raises(InvalidInput) as exc:
        ProbeScheduler(ping_interval_s=0)
    assert exc.value.field == "ping_interval_s"
    with pytest.raises(InvalidInput):
        s.on_sent("flood", 1.0)  # type: ignore[arg-type]


def test_wire_round_trip_and_errors() -> None:
    for frame in (Ping(7, 123456789), Pong(2**64 - 1, 5, 99)):
        data = encode(frame)
        assert len(data) == FRAME_SIZE and decode(data) == frame
    pong = decode(answer(encode(Ping(3, 1000)), now_ns=555))
    assert pong == Pong(3, 1000, 555)
    good = encode(Ping(1, 2))
    for data, field in (
        (good[:-1], "frame"),
        (b"XXXX" + good[4:], "frame.magic"),
        (good[:4] + b"\x09" + good[5:], "frame.version"),
        (good[:5] + b"\x07" + good[6:], "frame.kind"),
    ):
        with pytest.raises(ProbeWireError) as exc:
            decode(data)
        assert exc.value.field == field
    with pytest.raises(ProbeWireError):
        answer(encode(Pong(1, 2, 3)), 0)
    with pytest.raises(ProbeWireError) as exc:
        encode(Ping(-1, 0))
    assert exc.value.field == "nonce"


def test_pinger_matches_pongs_and_ignores_strays() -> None:
    p = Pinger(first_nonce=10, max_outstanding=3)
    a = p.ping(1_000_000)
    b = p.ping(2_000_000)
    pong_b = answer(b, now_ns=0)
    assert p.on_pong(pong_b, 4_500_000) == pytest.approx(2.5)
    assert p.on_pong(pong_b, 5_000_000) is None  # duplicate
    assert p.on_pong(encode(Pong(999, 1_000_000, 0)), 5_000_000) is None  # never sent
    assert p.on_pong(encode(Pong(10, 42, 0)), 5_000_000) is None  # nonce right, timestamp forged
    assert p.outstanding == 1
    assert p.expire(now_ns=10_000_000, timeout_ns=5_000_000) == 1 and p.lost == 1
    assert p.on_pong(answer(a, 0), 11_000_000) is None  # too late
    for t in range(5):
        p.ping(t)
    assert p.outstanding == 3 and p.lost == 3  # oldest dropped beyond max_outstanding
    with pytest.raises(ProbeWireError):
        p.on_pong(a, 0)  # a ping is not a pong


def test_a_busy_link_holds_probes_back_without_restarting_the_interval() -> None:
    s = ProbeScheduler(ping_interval_s=1.0, bandwidth_interval_s=30.0, idle_after_s=5.0)
    s.on_sent("bandwidth", 0.0)
    s.on_bandwidth_done()
    s.on_link_busy(29.0)  # a migration runs from 29 s to 40 s, with no figure to offer
    for t in range(29, 41):
        s.on_link_busy(float(t))
        assert "bandwidth" not in s.poll(float(t) + 0.5)
    assert "bandwidth" not in s.poll(44.0)  # still within idle_after_s of the last busy note
    assert "bandwidth" in s.poll(45.5)  # then the overdue probe runs (the interval was not restarted)
