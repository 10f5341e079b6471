"""XOR delta between a chunk and its base, and the resemblance features that find a base.

XOR keeps the delta the size of the chunk, but every unchanged byte becomes a zero that the frame
compressor squeezes to almost nothing, and it is its own inverse, so both ends share xor_chunk.
"""

from __future__ import annotations

import numpy as np

from novacron.dwcp.hde import format as fmt

_FEATURE = 32
_NO_FEATURE = bytes(_FEATURE)


def xor_array(chunk: bytes, base: bytes) -> np.ndarray:
    """chunk XOR base as a uint8 array, base truncated or zero-padded to len(chunk)."""
    n = len(chunk)
    a = np.frombuffer(chunk, np.uint8)
    if len(base) >= n:
        return np.bitwise_xor(a, np.frombuffer(base, np.uint8, count=n))
    x = a.copy()
    x[: len(base)] ^= np.frombuffer(base, np.uint8)
    return x


def xor_chunk(chunk: bytes, base: bytes) -> bytes:
    """chunk XOR base (see xor_array). Its own inverse, so the decoder uses it too."""
    return xor_array(chunk, base).tobytes()


def features(chunk: bytes) -> tuple[bytes, ...]:
    """Up to three 32-byte samples (head, middle, tail), all-zero ones left out."""
    n = len(chunk)
    if n < 2 * _FEATURE:
        return ()
    mid = (n // 2) & ~7
    found = (chunk[:_FEATURE], chunk[mid : mid + _FEATURE], chunk[n - _FEATURE :])
    return tuple(f for f in found if f != _NO_FEATURE)


def delta_record(page: bytes, base: bytes, base_id: int) -> bytes | None:
    """DELTA record of `page` against `base` (at least as long), or None when the XOR would not pay:
    kept when at most an eighth of it is non-zero (the common small rewrite, decided without a second
    count), else when it has at most half the page's own non-zero bytes."""
    n = len(page)
    x = np.bitwise_xor(np.frombuffer(page, np.uint8), np.frombuffer(base, np.uint8, count=n))
    changed = int(np.count_nonzero(x))
    if changed > n // 8 and 2 * changed > int(np.count_nonzero(np.frombuffer(page, np.uint8))):
        return None
    return fmt.DELTA.pack(fmt.TAG_DELTA, base_id, n) + x.tobytes()
