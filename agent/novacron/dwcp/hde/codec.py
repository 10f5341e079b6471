"""Entropy coders behind HDE frames, with one place that maps (algorithm, level) to a codec call.

Level 0 means "store": frames go out raw whatever the algorithm, which is what a mode switch asks for
when the link outruns every compressor. zstd takes 1..22 as is. lz4 has no 22 levels: 1..3 use the
fast block mode, 4..22 the high-compression mode at min(level, 12).
"""

from __future__ import annotations

from typing import Literal

import lz4.block
import zstandard

from novacron.dwcp.hde.errors import HdeProtocolError
from novacron.dwcp.hde.format import CODEC_LZ4, CODEC_RAW, CODEC_ZSTD
from novacron_sdk.errors import InvalidInput

Algorithm = Literal["zstd", "lz4", "none"]
ALGORITHMS: dict[str, int] = {"none": CODEC_RAW, "zstd": CODEC_ZSTD, "lz4": CODEC_LZ4}


def check_settings(algorithm: str, level: int) -> None:
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"must be one of zstd, lz4, none, not {algorithm!r}", field="algorithm")
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 22:
        raise InvalidInput(f"must be an integer 0..22, not {level!r}", field="level")


class Compressor:
    """Compresses one frame payload; returns (codec id, bytes). Keeps a zstd context per level."""

    def __init__(self, algorithm: str, level: int) -> None:
        check_settings(algorithm, level)
        self.codec = ALGORITHMS[algorithm] if level > 0 else CODEC_RAW
        self.level = level
        self._zstd = (
            zstandard.ZstdCompressor(level=level, write_content_size=True)
            if (self.codec == CODEC_ZSTD)
            else None
        )

    def compress(self, payload: bytes) -> tuple[int, bytes]:
        if self.codec == CODEC_ZSTD:
            assert self._zstd is not None
            return CODEC_ZSTD, self._zstd.compress(payload)
        if self.codec == CODEC_LZ4:
            if self.level <= 3:
                return CODEC_LZ4, lz4.block.compress(payload, mode="default", store_size=False)
            return CODEC_LZ4, lz4.block.compress(
                payload, mode="high_compression", compression=min(self.level, 12), store_size=False
            )
        return CODEC_RAW, payload


class Decompressor:
    """Inverse of Compressor for any codec id; output size is declared and enforced, never trusted."""

    def __init__(self) -> None:
        self._zstd = zstandard.ZstdDecompressor()

    def decompress(self, codec: int, wire: bytes, size: int) -> bytes:
        try:
            if codec == CODEC_RAW:
                out = wire
            elif codec == CODEC_ZSTD:
                out = self._zstd.decompress(wire, max_output_size=size)
            elif codec == CODEC_LZ4:
                out = lz4.block.decompress(wire, uncompressed_size=size)
            else:
                raise HdeProtocolError(f"frame names unknown codec {codec}")
        except (zstandard.ZstdError, lz4.block.LZ4BlockError) as exc:
            raise HdeProtocolError(f"frame payload does not decompress: {exc}") from exc
        if len(out) != size:
            raise HdeProtocolError(
                f"frame payload is {len(out)} bytes after decompression, header says {size}"
            )
        return out
