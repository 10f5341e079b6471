"""The probe endpoint, the prober and their sans-I/O pieces, over real loopback sockets.

Fixed inputs for the pure parts (frames, receiver accounting, token bucket, RTT floor, peer
resolution); real asyncio servers and clients for the rest. Waits poll with a deadline.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from novacron.config.model import AgentConfig, ProbeConfig, TransportConfig
from novacron.dwcp.mode import LinkSample
from novacron.dwcp.probe import burst, wire
from novacron.dwcp.probe.limiter import TokenBucket
from novacron.dwcp.probe.rtt import RecentMin
from novacron.dwcp.probe.targets import ProbeTarget, probe_port, resolve_targets
from novacron.transport.mode import ModeService
from novacron.transport.probe.client import PingSession, ProbeError, bandwidth_probe
from novacron.transport.probe.runner import ProbeRunner
from novacron.transport.probe.server import ProbeServer, ServerLimits
from novacron_sdk.errors import InvalidInput
from tests.tooling.wait import until_async as until

MIB = 1 << 20
CONGESTION = TransportConfig().congestion_algo  # the transport's default setting


def run(coro: Awaitable[Any], limit: float = 60) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await coro

    return asyncio.run(bounded())


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


# -- sans-I/O pieces ----------------------------------------------------------------------------
def test_burst_frames_round_trip_and_reject_garbage() -> None:
    frame = burst.BurstFrame(burst.KIND_RESULT, burst.STATUS_OK, 123_456, 7_000_000)
    data = burst.encode(frame)
    assert len(data) == burst.FRAME_SIZE == wire.FRAME_SIZE
    assert burst.decode(data) == frame
    assert burst.throughput_mbps(frame) == pytest.approx(123_456 * 8 / 0.007 / 1e6)
    assert burst.throughput_mbps(burst.BurstFrame(burst.KIND_RESULT, burst.STATUS_BUSY)) is None
    with pytest.raises(burst.BurstWireError, match="magic") as e:
        burst.decode(b"XXXX" + data[4:])
    assert e.value.field == "frame.magic"
    with pytest.raises(burst.BurstWireError, match="32 bytes"):
        burst.decode(data[:-1])
    with pytest.raises(burst.BurstWireError, match="kind"):
        burst.decode(data[:5] + b"\x09" + data[6:])


def test_burst_sink_times_the_second_half_of_the_probe() -> None:
    sink = burst.BurstSink(1000)
    assert sink.on_data(100, 1_000) == 100
    assert sink.on_data(400, 2_000) == 400  # half of the probe is in: its clock starts here
    assert not sink.done
    assert sink.on_data(600, 5_000) == 500  # 100 bytes beyond the announced size are refused
    assert sink.done
    assert sink.result() == burst.BurstFrame(burst.KIND_RESULT, burst.STATUS_OK, 500, 3_000)
    short = burst.BurstSink(1000)
    short.on_data(10, 0)
    short.on_eof()
    assert short.done and burst.throughput_mbps(short.result()) is None  # one chunk measures nothing
    whole = burst.BurstSink(1000)  # the whole second half in one chunk: the probe is timed from its start
    whole.on_data(400, 0)
    whole.on_data(600, 1_000_000)
    assert whole.result() == burst.BurstFrame(burst.KIND_RESULT, burst.STATUS_OK, 600, 1_000_000)
    with pytest.raises(InvalidInput, match="positive"):
        burst.BurstSink(0)


def test_burst_sink_sees_past_slow_start_on_a_long_path() -> None:
    """A 4 MiB probe over 50 ms of RTT and 1 Gbit/s: the window doubles each round trip from 10
    segments, so most of the probe's time is slow start. The old whole-probe average read ~64 Mbit/s
    on such a link; the second half reads what the window reached."""
    nbytes, rtt_ns, link_bps = 4 << 20, 50_000_000, 125e6
    sink, t, window, sent = burst.BurstSink(nbytes), 0, 14_480, 0
    while sent < nbytes:  # one round trip: the window's bytes arrive spread at the link's rate
        burst_bytes = min(window, nbytes - sent)
        for _ in range(0, burst_bytes, 65536):
            chunk = min(65536, burst_bytes - (_))
            t += int(chunk / link_bps * 1e9)
            sink.on_data(chunk, t)
        sent += burst_bytes
        t += rtt_ns
        window *= 2
    average = nbytes * 8 / (t / 1e9) / 1e6
    mbps = burst.throughput_mbps(sink.result())
    assert mbps is not None and average < 100 < 200 < mbps <= 1000
    slow = burst.BurstSink(nbytes)  # a 100 Mbit/s link: the second half is at the link's rate
    for i in range(64):
        slow.on_data(nbytes // 64, int((i + 1) * (nbytes // 64) / 12.5e6 * 1e9))
    assert burst.throughput_mbps(slow.result()) == pytest.approx(100, rel=0.03)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    b = TokenBucket(rate=10.0, capacity=2)
    assert [b.delay(0.0), b.delay(0.0)] == [0.0, 0.0]
    assert b.delay(0.0) == pytest.approx(0.1)  # in debt by one token at 10/s
    assert b.delay(0.1) == pytest.approx(0.1)  # refilled one, spent one: still one in debt
    assert b.delay(1.0) == 0.0  # a long pause refills (up to the capacity only)
    with pytest.raises(InvalidInput) as e:
        TokenBucket(rate=0, capacity=1)
    assert e.value.field == "rate"


def test_recent_min_follows_the_floor_not_the_spikes() -> None:
    f = RecentMin(3)
    assert [f.on_sample(x) for x in (5.0, 40.0, 6.0, 5.5, 50.0, 51.0, 52.0, 1.0)] == [
        5.0, 5.0, 5.0, 5.5, 5.5, 5.5, 50.0, 1.0,
    ]
    with pytest.raises(InvalidInput):
        f.on_sample(float("nan"))


def test_peer_resolution_from_config() -> None:
    cfg = AgentConfig.model_validate({
        "system": {"node_id": "me"},
        "dwcp": {"listen_port": 7070},
        "peers": [
            {"node_id": "me", "api_url": "http://10.0.0.9:8080"},
            {"node_id": "explicit", "api_url": "http://x:1", "probe_address": "10.0.0.2:9000"},
            {"node_id": "by-dwcp", "api_url": "http://x:1", "dwcp_address": "10.0.0.3:7070"},
            {"node_id": "by-api", "api_url": "https://[fd00::4]:8080"},
            {"node_id": "by-dwcp", "api_url": "http://dup:1"},
        ],
    })
    assert probe_port(cfg.dwcp) == 7071
    targets, skipped = resolve_targets(cfg)
    assert targets == [
        ProbeTarget("explicit", "10.0.0.2", 9000),
        ProbeTarget("by-dwcp", "10.0.0.3", 7071),
        ProbeTarget("by-api", "fd00::4", 7071),
    ]
    assert [e.field for e in skipped] == ["peers[4].node_id"]

    ephemeral = cfg.model_copy(update={"dwcp": cfg.dwcp.model_copy(update={"listen_port": 0})})
    assert probe_port(ephemeral.dwcp) == 0
    targets, skipped = resolve_targets(ephemeral)
    assert [t.node_id for t in targets] == ["explicit"]  # the others cannot be guessed
    assert {e.field for e in skipped} == {"peers[2].probe_address", "peers[3].probe_address", "peers[4].node_id"}


# -- endpoint and client ------------------------------------------------------------------------
def test_pings_and_a_bandwidth_probe_over_loopback() -> None:
    async def main() -> tuple[Any, ...]:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        session = await PingSession.connect("127.0.0.1", port)
        rtts = [await session.ping() for _ in range(5)]
        info = session.tcp_info()
        session.close()
        out = await bandwidth_probe("127.0.0.1", port, 4 * MIB, congestion=CONGESTION)
        await until("the sink to count", lambda: srv.stats.bursts == 1)
        await srv.stop()
        return rtts, info, out, srv.stats

    rtts, info, out, stats = run(main())
    assert all(0 <= r < 1000 for r in rtts) and stats.pongs == 5
    assert info is not None and info.rtt_us > 0
    assert out.sent == 4 * MIB and 0 < out.received < out.sent  # the first chunk is not timed
    assert out.mbps > 0 and out.seconds > 0 and out.loss is not None
    assert stats.bytes_sunk == 4 * MIB and stats.protocol_errors == 0


def test_a_probe_measures_with_the_transports_congestion_control() -> None:
    """What a migration's connection would get: bbr where the transport would use it. "adaptive"
    picks per connection from its RTT, as the transport does (loopback: cubic)."""
    available = Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    if "bbr" not in available:
        pytest.skip("the tcp_bbr module is not loaded")

    async def main() -> tuple[Any, ...]:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        bbr = await bandwidth_probe("127.0.0.1", port, MIB, congestion="bbr")
        adaptive = await bandwidth_probe("127.0.0.1", port, MIB, congestion="adaptive")
        await srv.stop()
        return bbr, adaptive

    bbr, adaptive = run(main())
    assert (bbr.congestion, adaptive.congestion) == ("bbr", "cubic")
    assert bbr.mbps > 0 and adaptive.mbps > 0
    with pytest.raises(InvalidInput) as err:
        run(bandwidth_probe("127.0.0.1", 9, MIB, congestion="vegas"))  # type: ignore[arg-type]
    assert err.value.field == "congestion"
    runner = ProbeRunner(ModeService(AgentConfig()), [], ProbeConfig(), TransportConfig(congestion_algo="bbr"))
    assert runner.congestion == "bbr"  # the transport's setting, whatever the runner's own defaults


def test_endpoint_refuses_oversized_and_concurrent_probes_and_drops_strangers() -> None:
    async def main() -> tuple[Any, ...]:
        srv = ProbeServer(ServerLimits(max_burst_bytes=MIB, max_concurrent_bursts=1))
        port = await srv.start("127.0.0.1", 0)
        with pytest.raises(ProbeError, match="status 2"):
            await bandwidth_probe("127.0.0.1", port, 2 * MIB, congestion=CONGESTION)
        # hold the only probe slot: ask, get accepted, send nothing yet
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(burst.encode(burst.BurstFrame(burst.KIND_REQUEST, nbytes=MIB)))
        accepted = burst.decode(await r.readexactly(burst.FRAME_SIZE))
        with pytest.raises(ProbeError, match="status 1"):
            await bandwidth_probe("127.0.0.1", port, MIB, congestion=CONGESTION)
        w.close()
        await until("the slot to free", lambda: srv._bursts == 0)
        again = await bandwidth_probe("127.0.0.1", port, MIB, congestion=CONGESTION)
        # a stranger speaking another protocol is dropped without an answer
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"GET / HTTP/1.0\r\n\r\n")
        answer = await r2.read()
        w2.close()
        await srv.stop()
        return accepted, again, answer, srv.stats

    accepted, again, answer, stats = run(main())
    assert accepted.kind == burst.KIND_ACCEPT and again.mbps > 0
    assert answer == b"" and stats.protocol_errors == 1
    assert stats.refused_bursts == 2


def test_a_ping_flood_is_slowed_not_dropped_and_connections_are_capped() -> None:
    async def main() -> tuple[Any, ...]:
        srv = ProbeServer(ServerLimits(ping_rate=200.0, ping_burst=5, max_connections=1))
        port = await srv.start("127.0.0.1", 0)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        pings = [wire.encode(wire.Ping(n, n * 10)) for n in range(1, 41)]
        w.write(b"".join(pings))  # 40 pings at once: 5 at once, the rest at 200/s
        pongs = [wire.decode(await r.readexactly(wire.FRAME_SIZE)) for _ in pings]
        # a second connection is over the cap: closed at once
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(pings[0])
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await r2.readexactly(wire.FRAME_SIZE)
        w2.close()
        w.close()
        await srv.stop()
        return pongs, srv.stats

    pongs, stats = run(main())
    assert [(p.nonce, p.origin_ns) for p in pongs] == [(n, n * 10) for n in range(1, 41)]
    assert all(isinstance(p, wire.Pong) for p in pongs)
    assert stats.refused_connections == 1


def test_a_pong_is_never_accepted_as_a_ping_by_the_endpoint() -> None:
    async def main() -> bytes:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(wire.encode(wire.Pong(1, 2, 3)))
        data = await r.read()
        w.close()
        await srv.stop()
        return data

    assert run(main()) == b""


# -- the prober with a real ModeService -----------------------------------------------------------
def _runner(mode: ModeService, targets: list[ProbeTarget], *, bandwidth_bytes: int = MIB, **kw: Any) -> ProbeRunner:
    probe = ProbeConfig(interval_s=0.05, bandwidth_interval_s=0.2, bandwidth_bytes=bandwidth_bytes)
    return ProbeRunner(mode, targets, probe, TransportConfig(), registry=mode.registry, **kw)


def test_runner_feeds_detection_prediction_and_metrics() -> None:
    mode = ModeService(AgentConfig())

    async def main() -> tuple[Any, ...]:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        runner = _runner(mode, [ProbeTarget("peer", "127.0.0.1", port), ProbeTarget("gone", "127.0.0.1", 9)])
        await runner.start()

        def measured() -> Any:
            peers = {p.node_id: p for p in mode.status().peers}
            p = peers.get("peer")
            return p if p and p.bandwidth_mbps and p.predicted_mbps is not None else None

        link = await until("a measured, predicted peer", measured)
        # a migration reports a transfer from its own thread: probes pause, PBA gets the sample
        sched = runner._peers["peer"].sched
        t = threading.Thread(target=mode.on_transfer, args=("peer", 64 * MIB, 0.5))
        t.start()
        t.join()
        await until("the transfer to reach the prober", lambda: sched.transfer_active(time.monotonic()))
        await runner.stop()
        await srv.stop()
        return link, mode.status()

    link, status = run(main())
    assert link.mode == "datacenter" and link.rtt_ms is not None and link.loss_ratio is not None
    assert [p.node_id for p in status.peers] == ["peer"]  # the unreachable one never got a sample
    assert status.peers[0].predicted_mbps is None  # the prediction source is gone with the runner
    reg = mode.registry
    assert metric(reg, "dwcp_probe_bytes_total", kind="ping") > 0
    assert metric(reg, "dwcp_probe_bytes_total", kind="bandwidth") >= MIB
    assert metric(reg, "dwcp_probe_failures_total", peer="gone", kind="ping") >= 1
    assert metric(reg, "dwcp_peer_predicted_mbps", peer="peer") > 0
    assert metric(reg, "dwcp_peer_rtt_var_ms", peer="peer") is not None
    assert metric(reg, "dwcp_probe_cost_bytes_per_second") > 0


def test_a_slow_first_ping_does_not_decide_the_peers_mode() -> None:
    """A just-started agent's loop is busy: its first pong came 74 ms late on a 0.5 ms link. The
    prober judges a new connection's first pings together, so the peer is never taken for an
    internet peer (the node's mode would switch, then switch back three samples later)."""
    mode = ModeService(AgentConfig())
    switched: list[str] = []
    mode.live.subscribe(lambda profile: switched.append(profile.mode), replay=False)
    stalls = [0.074]

    def busy_then_idle_clock() -> int:  # the peer's loop stalls once, while answering the first ping
        if stalls:
            time.sleep(stalls.pop())  # the stall under test
        return time.monotonic_ns()

    async def main() -> Any:
        srv = ProbeServer(clock_ns=busy_then_idle_clock)
        port = await srv.start("127.0.0.1", 0)
        runner = _runner(mode, [ProbeTarget("peer", "127.0.0.1", port)], bandwidth_bytes=0)
        await runner.start()
        first = await until("a ping sample", lambda: mode.status().peers)
        await until("more pings", lambda: srv.stats.pongs >= 8)
        await runner.stop()
        await srv.stop()
        return first[0]

    first = run(main())
    assert not stalls, "the stall never happened"
    assert first.mode == "datacenter" and first.rtt_ms is not None and first.rtt_ms < 20, first
    assert switched == [] and mode.status().mode == "datacenter"


def test_runner_leaves_a_busy_link_alone_until_the_migration_ends() -> None:
    """While a migration marks the link busy the prober still pings (the peer stays alive) but
    takes no RTT sample and sends no bandwidth probe; after the span ends both resume."""
    mode = ModeService(AgentConfig())
    mode.begin_busy("peer", "mig-1", 60.0)

    async def main() -> tuple[Any, ...]:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        runner = _runner(mode, [ProbeTarget("peer", "127.0.0.1", port)])
        await runner.start()
        await until("pings answered", lambda: (metric(mode.registry, "dwcp_probe_bytes_total", kind="ping") or 0) > 200)
        busy = (mode.status().peers, srv.stats.bursts)
        mode.end_busy("peer", "mig-1")
        after = await until("a measured peer", lambda: [p for p in mode.status().peers if p.bandwidth_mbps])
        await runner.stop()
        await srv.stop()
        return busy, after

    (peers, bursts), after = run(main())
    assert peers == [] and bursts == 0  # no RTT sample, no probe while busy
    assert after[0].rtt_ms is not None and after[0].bandwidth_mbps > 0


def test_runner_without_bandwidth_probes_and_with_a_peer_that_goes_away() -> None:
    mode = ModeService(AgentConfig())

    async def main() -> tuple[Any, ...]:
        srv = ProbeServer()
        port = await srv.start("127.0.0.1", 0)
        runner = _runner(mode, [ProbeTarget("peer", "127.0.0.1", port)], bandwidth_bytes=0, stale_after_s=0.5)
        await runner.start()
        first = await until("a ping sample", lambda: mode.status().peers)
        await srv.stop()  # the peer disappears
        await until("the stale peer to leave detection", lambda: not mode.status().peers)
        await runner.stop()
        return first[0], srv.stats

    first, stats = run(main())
    assert first.rtt_ms is not None and first.bandwidth_mbps is None
    assert stats.bursts == 0 and metric(mode.registry, "dwcp_probe_bytes_total", kind="bandwidth") is None


def test_on_transfer_validates_and_ignores_small_transfers() -> None:
    mode = ModeService(AgentConfig())
    heard: list[tuple[str, float]] = []
    remove = mode.add_transfer_listener(lambda peer, mbps: heard.append((peer, mbps)))
    assert mode.on_transfer("p", 1000, 0.1) == []  # too small to say anything about the link
    assert mode.on_transfer("p", 10 * MIB, 1.0) == []  # no RTT known yet: listeners only
    mode.on_link_sample("p", LinkSample(80.0))
    mode.on_transfer("p", 10 * MIB, 1.0)  # now also a detection sample, with the smoothed RTT
    remove()
    mode.on_transfer("p", 10 * MIB, 1.0)
    assert heard == [("p", pytest.approx(10 * MIB * 8 / 1e6))] * 2
    link = mode.status().peers[0]
    assert link.bandwidth_mbps == pytest.approx(10 * MIB * 8 / 1e6) and link.rtt_ms == pytest.approx(80.0)
    for kwargs, field in (({"seconds": 0}, "seconds"), ({"nbytes": -1}, "nbytes"), ({"peer": ""}, "peer")):
        args = {"peer": "p", "nbytes": MIB, "seconds": 1.0, **kwargs}
        with pytest.raises(InvalidInput) as e:
            mode.on_transfer(**args)
        assert e.value.field == field


def test_tcp_info_of_a_probe_socket_parses() -> None:
    # the loss figures come from TCP_INFO of probe sockets; check the one syscall on a real socket
    from novacron.transport.sockopts import tcp_info

    with socket.create_server(("127.0.0.1", 0)) as srv:
        c = socket.create_connection(srv.getsockname())
        s, _ = srv.accept()
        c.sendall(struct.pack("!Q", 1) * 1000)
        s.recv(65536)
        info = tcp_info(c)
        c.close()
        s.close()
    assert info is not None and info.state == 1 and info.segs_out is not None and info.segs_out > 0


def test_prediction_follows_the_v3_prediction_flag() -> None:
    from novacron.dwcp.pba import make_predictor

    mode = ModeService(AgentConfig())
    made: list[str] = []

    def factory(ml: bool) -> Any:
        p = make_predictor(ml)
        made.append(type(p).__name__)
        return p

    async def main() -> tuple[float | None, float | None]:
        runner = ProbeRunner(
            mode, [], ProbeConfig(), TransportConfig(), registry=mode.registry, predictor_factory=factory
        )
        await runner.start()
        for _ in range(3):
            mode.on_transfer("dst", 100 * MIB, 1.0)  # ~839 Mbit/s
        with_ml = runner.predicted_mbps("dst")
        mode.update({"enable_v3_prediction": False})
        mode.on_transfer("dst", 100 * MIB, 1.0)
        baseline = runner.predicted_mbps("dst")
        await runner.stop()
        return with_ml, baseline

    with_ml, baseline = run(main())
    # one predictor per flag state (history restarts on the change): ML when it loads, else the baseline
    assert made == [type(make_predictor(True)).__name__, "Ewma"]
    assert with_ml is not None and with_ml > 0
    assert baseline == pytest.approx(100 * MIB * 8 / 1e6)  # EWMA of one sample is that sample
