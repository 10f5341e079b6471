"""Shared helpers for the HDE tests: realistic page streams and a full encode/decode round trip."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from novacron.dwcp.hde import HdeDecoder, HdeEncoder

PAGE = 1024  # small chunks keep hypothesis examples small while exercising every record kind


def page_stream(seed: int, pages: int, page: int = PAGE) -> bytes:
    """Pages drawn from a small pool: fresh random, zero, exact repeats and lightly mutated repeats."""
    rnd = random.Random(seed)
    pool: list[bytes] = []
    out = bytearray()
    for _ in range(pages):
        kind = rnd.randrange(5)
        if kind == 0 or not pool:
            pg = rnd.randbytes(page) if rnd.random() < 0.5 else bytes(rnd.randrange(4) for _ in range(page))
            pool.append(pg)
        elif kind == 1:
            pg = bytes(page)
        elif kind == 2:
            pg = rnd.choice(pool)
        else:
            mutated = bytearray(rnd.choice(pool))
            for _ in range(rnd.randrange(1, 9)):
                mutated[rnd.randrange(page)] = rnd.randrange(256)
            pg = bytes(mutated)
            pool.append(pg)
        out += pg
    tail = rnd.randrange(page)  # streams do not end on page boundaries
    return bytes(out) + rnd.randbytes(tail)


@st.composite
def splits(draw: st.DrawFn, total: int, max_pieces: int = 12) -> list[int]:
    """Sorted cut points inside [0, total]."""
    cuts = draw(st.lists(st.integers(0, total), max_size=max_pieces))
    return sorted(set(cuts))


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def decode_all(decoder: HdeDecoder, pieces: list[bytes]) -> bytes:
    out = bytearray()
    for piece in pieces:
        out += decoder.feed(piece)
        while decoder.has_backlog:
            out += decoder.feed(b"")
    return bytes(out)


def encode_all(encoder: HdeEncoder, pieces: list[bytes]) -> bytes:
    frames: list[bytes] = []
    for piece in pieces:
        frames += encoder.encode(piece)
    frames += encoder.flush()
    return b"".join(frames)


# -- QEMU pre-copy streams (format as in QEMU 10 migration/savevm.c, migration/ram.c) --------------
QPAGE = 4096
RAM_SECTION = 2  # section id of "ram" in the streams built here


def _be64(v: int) -> bytes:
    return v.to_bytes(8, "big")


class QemuStream:
    """Builds a pre-copy stream record by record; `pages` records which (block, offset, body) went where.

    Only the framing is QEMU's; device state is random filler. Page bodies come from the caller.
    """

    def __init__(self, blocks: dict[bytes, int], *, seed: int = 0) -> None:
        self.blocks = blocks  # idstr -> used length
        self.rnd = random.Random(seed)
        self.out = bytearray(b"QEVM" + (3).to_bytes(4, "big"))
        self.out += b"\x07" + (5).to_bytes(4, "big") + b"pc-q35"[:5]  # CONFIGURATION
        self.page_spans: list[tuple[bytes, int, int]] = []  # (block, offset, stream position of body)
        self._last: bytes | None = None
        self.first_pass_end = self.first_pass_pages = 0  # set by synthetic_migration

    def start(self) -> QemuStream:
        self.out += bytes([1]) + RAM_SECTION.to_bytes(4, "big") + b"\x03ram" + bytes(4) + (4).to_bytes(4, "big")
        self.out += _be64(sum(self.blocks.values()) | 0x04)
        for name, length in self.blocks.items():
            self.out += bytes([len(name)]) + name + _be64(length)
        return self._eos()

    def section(self, records: list[tuple[bytes, int, bytes | None]], *, end: bool = False) -> QemuStream:
        """A PART (or END) section: (block, offset, body) records, body None for a zero page."""
        self.out += bytes([3 if end else 2]) + RAM_SECTION.to_bytes(4, "big")
        if self.rnd.random() < 0.5:  # QEMU keeps the last block across sections, until a ram reset
            self._last = None
        for block, offset, body in records:
            cont = 0x20 if block == self._last else 0
            self.out += _be64(offset | (0x08 if body is not None else 0x02) | cont)
            if not cont:
                self.out += bytes([len(block)]) + block
                self._last = block
            if body is None:
                self.out += b"\x00"
            else:
                self.page_spans.append((block, offset, len(self.out)))
                self.out += body
        return self._eos()

    def device_state(self, size: int) -> QemuStream:
        """FULL sections of other devices, then EOF."""
        self.out += bytes([4]) + (7).to_bytes(4, "big") + b"\x06serial" + bytes(4) + (1).to_bytes(4, "big")
        self.out += self.rnd.randbytes(size) + b"\x7e" + (7).to_bytes(4, "big") + b"\x1f"
        return self

    def _eos(self) -> QemuStream:
        self.out += _be64(0x10) + b"\x7e" + RAM_SECTION.to_bytes(4, "big")
        return self


def corpus_page(rnd: random.Random, pool: bytes) -> bytes:
    """A page of real-binary-like content: a slice of `pool` at a random 8-byte aligned offset."""
    at = rnd.randrange(0, len(pool) - QPAGE) & ~7
    return pool[at : at + QPAGE]


def wss_mutate(rnd: random.Random, page: bytes, pool: bytes, counter: int, mutate_bytes: int = 64) -> bytes:
    """tests/tooling/guest_src/wss.c mutate(): 1 in 8 replaces the page, else a 64-byte copy; then an
    8-byte counter at an aligned offset."""
    if rnd.randrange(8) == 0:
        m = bytearray(corpus_page(rnd, pool))
    else:
        m = bytearray(page)
        at = rnd.randrange(QPAGE - mutate_bytes + 1)
        src = rnd.randrange(len(pool) - mutate_bytes)
        m[at : at + mutate_bytes] = pool[src : src + mutate_bytes]
    at = rnd.randrange(QPAGE // 8) * 8
    m[at : at + 8] = counter.to_bytes(8, "little")
    return bytes(m)


def synthetic_migration(
    seed: int, ram_pages: int, *, zero_share: float = 0.5, passes: int = 2, dirty_share: float = 0.25,
    pool: bytes | None = None,
) -> tuple[bytes, QemuStream]:
    """First pass over all RAM (zero pages as ZERO records), then `passes` rewrite passes of a
    working set (wss.c mutations), then device state: the shape of a real pre-copy migration."""
    rnd = random.Random(seed)
    pool = pool if pool is not None else bytes(rnd.randrange(6) * 40 + (i % 7) for i in range(64 << 10))
    ram = [None if rnd.random() < zero_share else corpus_page(rnd, pool) for _ in range(ram_pages)]
    blocks = {b"pc.ram": ram_pages * QPAGE, b"/rom@etc/acpi/tables": 2 * QPAGE}
    qs = QemuStream(blocks, seed=seed).start()
    per = 256
    for i in range(0, ram_pages, per):
        qs.section([(b"pc.ram", j * QPAGE, ram[j]) for j in range(i, min(i + per, ram_pages))])
    qs.section([(b"/rom@etc/acpi/tables", 0, corpus_page(rnd, pool)), (b"/rom@etc/acpi/tables", QPAGE, None)])
    qs.first_pass_end, qs.first_pass_pages = len(qs.out), len(qs.page_spans)
    hot = [j for j in range(ram_pages) if ram[j] is not None]
    hot = hot[: max(1, int(len(hot) * dirty_share))] if hot else []
    for counter in range(passes):
        recs = []
        for j in hot:
            ram[j] = wss_mutate(rnd, ram[j] or bytes(QPAGE), pool, counter)
            recs.append((b"pc.ram", j * QPAGE, ram[j]))
        for i in range(0, len(recs), per):
            qs.section(recs[i : i + per], end=counter == passes - 1 and i + per >= len(recs))
    qs.device_state(3000)
    return bytes(qs.out), qs
