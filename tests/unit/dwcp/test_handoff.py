"""The hand-off between a pipe end's two threads (transport/handoff.py): order, the bound, the
end of the stream and failure, each waking the side that waits."""

from __future__ import annotations

import threading

import pytest

from novacron.transport.handoff import Handoff
from tests.tooling.wait import waits_on


def _in_thread(fn, *args) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    out: list = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except ValueError as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_items_come_out_in_order_and_the_end_after_the_last() -> None:
    h = Handoff(limit=1 << 20)
    for item in (b"a", b"", b"bc", b"d"):
        h.put(item)  # an empty item is not queued
    assert h.waiting == 4
    assert h.take() == [b"a", b"bc", b"d"]
    h.put(b"e")
    h.close()
    assert h.take() == [b"e"]
    assert h.take() is None
    with pytest.raises(ValueError, match="closed"):
        h.put(b"late")


def test_the_producer_waits_at_the_bound_until_the_consumer_takes() -> None:
    h = Handoff(limit=10)
    h.put(b"x" * 8)
    h.put(b"y" * 8)  # under the bound when put: may overshoot it
    blocked = waits_on(h._cond)
    t, out = _in_thread(h.put, b"z")
    assert blocked.wait(5)
    assert t.is_alive() and h.waiting == 16  # blocked: 16 bytes wait, over the bound
    assert h.take() == [b"x" * 8, b"y" * 8]
    t.join(5)
    assert not t.is_alive() and out == [None]
    assert h.take() == [b"z"]


def test_the_consumer_waits_while_nothing_waits() -> None:
    h = Handoff(limit=10)
    blocked = waits_on(h._cond)
    t, out = _in_thread(h.take)
    assert blocked.wait(5)
    assert t.is_alive()
    h.put(b"now")
    t.join(5)
    assert out == [[b"now"]]


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_failure_wakes_the_waiting_side_and_sticks(side: str) -> None:
    h = Handoff(limit=4)
    blocked = waits_on(h._cond)
    if side == "producer":
        h.put(b"full")
        t, out = _in_thread(h.put, b"more")
    else:
        t, out = _in_thread(h.take)
    assert blocked.wait(5)
    assert t.is_alive()
    h.fail("the link broke")
    t.join(5)
    assert not t.is_alive()
    assert isinstance(out[0], ValueError) and "the link broke" in str(out[0])
    with pytest.raises(ValueError, match="the link broke"):
        h.take()  # even with bytes still waiting: the pipe is dead
    with pytest.raises(ValueError, match="the link broke"):
        h.put(b"x")
