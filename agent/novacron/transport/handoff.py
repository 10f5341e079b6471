"""A bounded, byte-counted hand-off between two threads of a pipe end: the source's HDE encoder to
its TLS sender, the destination's HDE decoder to its QEMU writer.

WHY: one thread that encodes and then sends does one or the other at a time: while `sendall` waits
for the link, the encoder idles, and while it encodes, the link idles. zstd, TLS and the sockets
release the GIL, so two threads overlap the work and the wait (decisions.md: hde-pipe-two-threads).
The bound keeps what sits between them small: it is counted in the migration's window
and, at the switch-over, in its downtime.
"""

from __future__ import annotations

import threading
from collections import deque


class Handoff:
    """`put` blocks while `limit` bytes wait (one item may overshoot it); `take` returns everything
    waiting, blocks while nothing does, and returns None once the producer closed and all was
    taken. `fail` wakes both sides for good: from then on `put` and `take` raise ValueError."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[bytes] = deque()
        self._bytes = 0
        self._closed = False
        self._error: str | None = None
        self._cond = threading.Condition()

    @property
    def waiting(self) -> int:
        """Bytes put and not yet taken."""
        return self._bytes

    def put(self, item: bytes) -> None:
        if not item:
            return
        with self._cond:
            while self._error is None and self._bytes >= self.limit:
                self._cond.wait()
            if self._error is not None:
                raise ValueError(f"hand-off failed: {self._error}")
            if self._closed:
                raise ValueError("hand-off closed")
            self._items.append(item)
            self._bytes += len(item)
            self._cond.notify_all()

    def close(self) -> None:
        """The producer is done: `take` drains what waits, then returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def fail(self, why: str) -> None:
        with self._cond:
            if self._error is None:
                self._error = why
            self._cond.notify_all()

    def take(self) -> list[bytes] | None:
        with self._cond:
            while not self._items and not self._closed and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise ValueError(f"hand-off failed: {self._error}")
            if not self._items:
                return None
            items = list(self._items)
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
            return items
