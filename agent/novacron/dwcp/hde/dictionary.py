"""The chunk dictionary that encoder and decoder keep in lock-step.

Every non-zero chunk that crosses the wire (literal, delta or reference) is appended under the next
integer id; the ring keeps the last `capacity` ids. Eviction is therefore a pure function of the
record sequence, so both ends evict identically without ever talking about it. Re-appending on a
reference refreshes hot chunks (LRU-like) at the cost of one slot, not of a copy: the ring holds the
same bytes object.
"""

from __future__ import annotations


class ChunkRing:
    """Fixed-capacity id -> chunk store; ids grow forever, slots are reused modulo capacity."""

    __slots__ = ("capacity", "next_id", "_slots")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.next_id = 0
        self._slots: list[bytes | None] = [None] * capacity

    def append(self, chunk: bytes) -> tuple[int, bytes | None]:
        """Store `chunk`; return its id and the chunk it evicted (None while the ring fills)."""
        cid = self.next_id
        slot = cid % self.capacity
        evicted = self._slots[slot]
        self._slots[slot] = chunk
        self.next_id = cid + 1
        return cid, evicted

    def valid(self, cid: int) -> bool:
        return 0 <= cid < self.next_id and self.next_id - cid <= self.capacity

    def get(self, cid: int) -> bytes | None:
        """The chunk stored under `cid`, or None when the id was never issued or is evicted."""
        if not self.valid(cid):
            return None
        return self._slots[cid % self.capacity]
