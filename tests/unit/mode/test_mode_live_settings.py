"""LiveSettings: atomic swap, notification, concurrency, in-flight transfers, weak subscribers."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest
import zstandard

from novacron.config.model import DwcpConfig
from novacron.dwcp.mode.profiles import ModeProfile, all_profiles
from novacron.transport.mode.live_settings import LiveSettings
from novacron_sdk.errors import InvalidInput

PROFILES = all_profiles(DwcpConfig())
DC, HY, INET = PROFILES["datacenter"], PROFILES["hybrid"], PROFILES["internet"]


@pytest.fixture
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # make the interpreter interleave threads as often as possible
    yield
    sys.setswitchinterval(old)


class ChannelStub:
    """Stands in for an AMST channel: keeps the profile for the next frame."""

    def __init__(self) -> None:
        self.settings: ModeProfile | None = None
        self.calls = 0

    def apply_settings(self, profile: ModeProfile) -> None:
        self.settings = profile
        self.calls += 1


def test_apply_swaps_notifies_and_reports() -> None:
    live = LiveSettings(DC)
    chan, seen = ChannelStub(), []
    live.subscribe(chan.apply_settings)
    live.subscribe(seen.append, replay=False)
    assert chan.settings is DC and seen == []  # replay brings a new subscriber in sync
    report = live.apply(INET)
    assert live.current is INET and chan.settings is INET and seen == [INET]
    assert (report.old, report.new, report.subscribers, report.errors) == (DC, INET, 2, ())
    assert report.generation == live.generation == 1 and report.changed
    again = live.apply(INET)
    assert not again.changed and again.subscribers == 0 and seen == [INET]


def test_switch_time_uses_injected_clock() -> None:
    ticks = iter([10.0, 10.5])
    live = LiveSettings(DC)
    assert live.apply(HY, clock=lambda: next(ticks)).duration_s == pytest.approx(0.5)
    ticks = iter([20.0])
    assert live.apply(DC, clock=lambda: next(ticks), started_at=19.75).duration_s == pytest.approx(0.25)


def test_failing_subscriber_does_not_block_others() -> None:
    live = LiveSettings(DC)
    chan = ChannelStub()

    def broken(profile: ModeProfile) -> None:
        raise RuntimeError("encoder gone")

    live.subscribe(broken, replay=False)
    live.subscribe(chan.apply_settings)
    report = live.apply(HY)
    assert chan.settings is HY and report.subscribers == 1
    assert len(report.errors) == 1 and "encoder gone" in report.errors[0]


def test_unsubscribe_and_weak_subscribers() -> None:
    live = LiveSettings(DC)
    strong, weak = ChannelStub(), ChannelStub()
    sub = live.subscribe(strong.apply_settings)
    live.subscribe(weak.apply_settings, weak=True)
    assert live.subscriber_count == 2
    del weak
    gc.collect()
    assert live.subscriber_count == 1
    assert live.apply(HY).subscribers == 1
    sub.close()
    assert live.apply(INET).subscribers == 0 and strong.settings is HY
    with pytest.raises(InvalidInput):
        live.subscribe(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as exc:
        live.apply("internet")  # type: ignore[arg-type]
    assert exc.value.field == "profile"


def test_readers_never_see_a_torn_profile(fast_switching: None) -> None:
    live = LiveSettings(DC)
    chan = ChannelStub()
    live.subscribe(chan.apply_settings)
    valid = {tuple(p.__dict__.values()) for p in PROFILES.values()}
    stop = threading.Event()
    bad: list[object] = []
    reads = [0]

    def reader() -> None:
        last_gen = 0
        while not stop.is_set():
            for prof in (live.current, chan.settings):
                if tuple(prof.__dict__.values()) not in valid:
                    bad.append(prof)
            gen = live.generation
            if gen < last_gen:
                bad.append(("generation went back", last_gen, gen))
            last_gen = gen
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    order = [DC, HY, INET]
    for i in range(3000):
        live.apply(order[i % 3])
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert reads[0] > 0
    assert chan.settings is live.current


def test_concurrent_switches_leave_subscribers_on_the_current_profile(fast_switching: None) -> None:
    live = LiveSettings(DC)
    chans = [ChannelStub() for _ in range(4)]
    for c in chans:
        live.subscribe(c.apply_settings)

    def flipper(seq: list[ModeProfile]) -> None:
        for i in range(1000):
            live.apply(seq[i % len(seq)])

    threads = [threading.Thread(target=flipper, args=(s,)) for s in ([HY, INET], [DC, INET], [HY, DC])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(c.settings is live.current for c in chans)


class EncoderStub:
    """A compressor whose level is a parameter of the next frame, like the HDE encoder."""

    def __init__(self) -> None:
        self.level = 1

    def set_level(self, profile: ModeProfile) -> None:
        self.level = max(1, profile.compression_level)


def test_switch_during_in_flight_transfer_keeps_every_frame(fast_switching: None) -> None:
    live = LiveSettings(HY)
    enc = EncoderStub()
    live.subscribe(enc.set_level)
    payload = bytes(range(256)) * 64
    sent: list[tuple[int, int, bytes]] = []
    halfway = threading.Event()

    def migration() -> None:
        frame, after_switch = 0, 0
        # Runs until 50 frames went out with the new settings, however the threads get scheduled.
        while after_switch < 50 and frame < 1_000_000:
            level = enc.level  # settings are read once per frame, at its start
            sent.append((frame, level, zstandard.ZstdCompressor(level=level).compress(payload)))
            after_switch += level == INET.compression_level
            frame += 1
            if frame == 100:
                halfway.set()

    t = threading.Thread(target=migration)
    t.start()
    assert halfway.wait(timeout=60)
    report = live.apply(INET)
    t.join()
    assert report.subscribers == 1
    assert [f for f, _, _ in sent] == list(range(len(sent)))
    dec = zstandard.ZstdDecompressor()
    assert all(dec.decompress(blob) == payload for _, _, blob in sent)
    levels = [lv for _, lv, _ in sent]
    switch_at = levels.index(INET.compression_level)
    assert switch_at >= 100  # frames before the decision kept the old level...
    assert set(levels[:switch_at]) == {HY.compression_level}
    assert levels[switch_at:] == [INET.compression_level] * 50  # ...and every later one uses the new
