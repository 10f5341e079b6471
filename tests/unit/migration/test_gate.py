"""The switchover gate (migration/gate.py): QEMU's limit less the time the destination still needs."""

from __future__ import annotations

import math

import pytest

from novacron.migration.gate import SwitchoverGate

MB = 1_000_000


def test_no_samples_no_backlog_gives_qemu_its_whole_share() -> None:
    assert SwitchoverGate().limit(150) == 150


def test_a_backlog_the_destination_drains_in_time_t_takes_t_off_the_share() -> None:
    gate = SwitchoverGate(alpha=1.0)
    gate.observe(0.0, 0, 0)
    gate.observe(1.0, 5 * MB, 100 * MB)  # the destination took 100 MB/s; 5 MB still owed = 50 ms
    assert gate.drain_ms == pytest.approx(50.0)
    assert gate.limit(150) == 100


def test_a_backlog_longer_than_the_share_holds_qemu_at_the_floor() -> None:
    gate = SwitchoverGate(floor_ms=10, alpha=1.0)
    gate.observe(0.0, 0, 0)
    gate.observe(1.0, 40 * MB, 100 * MB)  # 400 ms owed
    assert gate.limit(150) == 10


def test_a_destination_that_takes_nothing_while_owed_bytes_keeps_the_floor() -> None:
    gate = SwitchoverGate(floor_ms=7)
    gate.observe(0.0, 3 * MB, 0)
    gate.observe(0.1, 3 * MB, 0)
    assert math.isinf(gate.drain_ms)
    assert gate.limit(300) == 7


def test_the_limit_comes_back_once_the_pipeline_drains() -> None:
    """First pass: the pipeline full; then QEMU sends only what the guest dirties and it drains."""
    gate = SwitchoverGate(alpha=0.5)
    t, delivered = 0.0, 0
    limits = []
    for backlog in (30, 30, 30, 20, 8, 2, 0, 0):
        t += 0.1
        delivered += 15 * MB  # 150 MB/s at the destination
        gate.observe(t, backlog * MB, delivered)
        limits.append(gate.limit(150))
    assert limits[:3] == [10, 10, 10]
    assert limits[-2:] == [150, 150]
    assert limits == sorted(limits)


def test_the_limit_never_exceeds_the_share_and_negative_backlogs_count_as_none() -> None:
    gate = SwitchoverGate()
    gate.observe(0.0, -5, 0)
    gate.observe(0.5, -5, 10 * MB)
    assert gate.backlog == 0
    assert gate.limit(40) == 40


def test_floor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="floor_ms"):
        SwitchoverGate(floor_ms=0)
