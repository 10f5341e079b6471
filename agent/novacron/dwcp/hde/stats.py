"""Counters of one HdeEncoder, read by metrics and the migration progress report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HdeStats:
    bytes_in: int = 0  # stream bytes accepted by encode()
    bytes_out: int = 0  # encoded bytes returned (preamble, headers and payloads)
    chunks: int = 0
    literal_chunks: int = 0
    dedup_hits: int = 0
    zero_chunks: int = 0
    delta_chunks: int = 0
    compressed_frames: int = 0
    raw_frames: int = 0
    raw_bytes: int = 0  # framing="qemu": stream bytes sent as RAW records (not page bodies)

    @property
    def ratio(self) -> float:
        """Input over output bytes: 2.0 means the wire carried half of the stream."""
        return self.bytes_in / self.bytes_out if self.bytes_out else 1.0
