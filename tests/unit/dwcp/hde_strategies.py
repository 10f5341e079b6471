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
