"""Channel headers, progress from job stats and tunnel counters, and the compression level loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from novacron.dwcp.pba.baselines import Ewma
from novacron.migration.compression import FillMeter, LevelController
from novacron.migration.progress import ProgressTracker, TunnelStats
from novacron.migration.wire import ChannelHeader, HeaderError, HeaderParser


@given(st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40), st.integers(0, 1023),
       st.sampled_from(["fwd", "back"]), st.binary(max_size=64), st.integers(1, 50))  # fmt: skip
def test_header_round_trips_in_any_split(mig: str, conn: int, d: str, rest: bytes, cut: int) -> None:
    data = ChannelHeader(mig, conn, d).encode() + rest  # type: ignore[arg-type]
    p = HeaderParser()
    out = p.feed(data[:cut]) + p.feed(data[cut:])
    assert p.header == ChannelHeader(mig, conn, d) and out == rest  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n", b"NCMIG1 not json\n", b'NCMIG1 {"m": 1, "c": 0}\n', b'NCMIG1 {"m": "x", "c": true}\n',
     b'NCMIG1 {"m": "x", "c": 0, "d": "up"}\n', b"NCMIG1 " + b"x" * 2000],
)  # fmt: skip
def test_bad_headers_are_refused(data: bytes) -> None:
    with pytest.raises(HeaderError):
        HeaderParser().feed(data)


def test_progress_from_job_stats_and_tunnel() -> None:
    t = ProgressTracker(Ewma())
    job = {"memory_total": 1000_000, "memory_remaining": 600_000, "memory_dirty_rate": 10, "memory_page_size": 4096,
           "memory_iteration": 2, "auto_converge_throttle": 30}  # fmt: skip
    t.sample(10.0, job, TunnelStats(bytes_in=0, bytes_on_wire=0, streams=4))
    p = t.sample(11.0, job, TunnelStats(bytes_in=400_000, bytes_on_wire=200_000, streams=4))
    assert (p.bytes_total, p.bytes_remaining, p.iteration, p.throttle_percent) == (1000_000, 600_000, 2, 30)
    assert p.bytes_sent == 400_000 and p.bytes_on_wire == 200_000 and p.compression_ratio == 2.0
    assert p.throughput_bps == 1.6e6 and p.dirty_rate_bps == 10 * 4096 * 8
    assert p.eta_s is not None and p.eta_s > 0 and p.elapsed_s == 1.0
    done = t.finish({"downtime": 42, "time_elapsed": 1500}, TunnelStats(bytes_in=900_000, bytes_on_wire=400_000))
    assert done.downtime_ms == 42 and done.elapsed_s == 1.5 and done.bytes_remaining == 0
    assert done.compression_ratio == 2.25


def test_no_eta_while_the_guest_dirties_faster_than_the_tunnel_moves() -> None:
    t = ProgressTracker()
    job = {"memory_remaining": 10 << 20, "memory_dirty_rate": 100_000, "memory_page_size": 4096}
    t.sample(0.0, job, TunnelStats())
    assert t.sample(1.0, job, TunnelStats(bytes_in=1 << 20, bytes_on_wire=1 << 20)).eta_s is None


def test_level_controller_follows_the_bottleneck() -> None:
    c = LevelController(start=1, highest=3, confirm=2)
    assert c.on_sample(0.9) is None and c.on_sample(0.8) == 2  # window full: the link waits, compress more
    assert c.on_sample(0.7) is None and c.on_sample(0.6) == 3 and c.on_sample(1.0) is None
    assert c.on_sample(1.0) is None  # at the top
    assert c.on_sample(0.0) is None and c.on_sample(0.05) == 2  # window empty: the encoder is the bottleneck
    assert c.on_sample(0.3) is None and c.level == 2  # in between: stay
    for _ in range(4):
        c.on_sample(0.0)
    assert c.level == 0  # stored frames: compression costs more than it saves
    m = FillMeter()
    assert m.take() is None
    m.add(2, 4)
    m.add(8, 4)
    assert m.take() == 0.75 and m.take() is None
