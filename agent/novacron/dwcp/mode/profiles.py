"""The data-plane settings each mode implies, derived from the agent's DWCP config.

Why these shapes: on a datacenter link the wire is faster than any compressor, so compression is
off (lz4 at level 0, which HDE sends as stored frames) and few streams suffice. On the internet
the wire is the bottleneck: many streams hide per-flow loss and window limits, zstd at a higher
level and bigger HDE frames trade CPU and latency for bytes. Hybrid sits between. The config's
min/max streams bound every profile, and algorithm "none" disables compression everywhere. The
congestion control a mode implies is dwcp/congestion.py's answer for that mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novacron.config.model import DwcpConfig
from novacron.dwcp.congestion import Algorithm, resolve_congestion
from novacron.dwcp.mode.classifier import MODES
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeName

_MAX_LEVEL = {"zstd": 22, "lz4": 16, "none": 0}
# AMST segment: big on a clean fast path (fewer frames and syscalls), small on the internet so
# striping over many streams stays fine-grained and one slow stream holds back less reassembly.
_SEGMENT = {"datacenter": 1 << 20, "hybrid": 512 << 10, "internet": 256 << 10}
# HDE frame: small where compression is off (latency), big where bytes are dear (ratio).
_FRAME = {"datacenter": 1 << 20, "hybrid": 2 << 20, "internet": 4 << 20}
_CONSENSUS = {"datacenter": "raft", "hybrid": "raft", "internet": "gossip"}


@dataclass(frozen=True)
class ModeProfile:
    """Immutable, so a reader holding one reference never sees half of a switch."""

    mode: ModeName
    streams_min: int
    streams_max: int
    congestion: Algorithm
    compression_algorithm: Literal["zstd", "lz4", "none"]
    compression_level: int
    consensus: str
    segment_bytes: int
    frame_bytes: int
    socket_buffer_bytes: int

    def __post_init__(self) -> None:
        if not 1 <= self.streams_min <= self.streams_max:
            raise InvalidInput(
                f"need 1 <= streams_min <= streams_max, got {self.streams_min}..{self.streams_max}",
                field="streams_min",
            )
        top = _MAX_LEVEL[self.compression_algorithm]
        if not 0 <= self.compression_level <= top:
            raise InvalidInput(
                f"{self.compression_algorithm} level must be 0..{top}, got {self.compression_level}",
                field="compression_level",
            )
        for name in ("segment_bytes", "frame_bytes", "socket_buffer_bytes"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"must be > 0, got {getattr(self, name)}", field=name)


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def profile_for(mode: ModeName, dwcp: DwcpConfig) -> ModeProfile:
    if mode not in MODES:
        raise InvalidInput(f"must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    lo, hi = dwcp.transport.min_streams, dwcp.transport.max_streams
    if mode == "datacenter":
        streams = (lo, _clamp(lo * 2, lo, hi))
    elif mode == "hybrid":
        s_min = _clamp(lo * 2, lo, hi)
        streams = (s_min, _clamp((lo + hi) // 2, s_min, hi))
    else:
        streams = (_clamp(lo * 4, lo, hi), hi)

    base_algo, base_level = dwcp.compression.algorithm, dwcp.compression.level
    comp_algo: Literal["zstd", "lz4", "none"]
    if base_algo == "none":
        comp_algo, level = "none", 0
    elif mode == "datacenter":
        comp_algo, level = "lz4", 0
    elif mode == "hybrid":
        comp_algo, level = base_algo, min(base_level, _MAX_LEVEL[base_algo])
    else:
        comp_algo, level = base_algo, _clamp(base_level + 3, 1, _MAX_LEVEL[base_algo])

    return ModeProfile(
        mode=mode,
        streams_min=streams[0],
        streams_max=streams[1],
        congestion=resolve_congestion(dwcp.transport, mode=mode),
        compression_algorithm=comp_algo,
        compression_level=level,
        consensus=_CONSENSUS[mode],
        segment_bytes=_SEGMENT[mode],
        frame_bytes=_FRAME[mode],
        socket_buffer_bytes=dwcp.transport.socket_buffer_bytes,
    )


def all_profiles(dwcp: DwcpConfig) -> dict[ModeName, ModeProfile]:
    """Precomputed once per config so a switch is a dictionary lookup, not a computation."""
    return {mode: profile_for(mode, dwcp) for mode in MODES}
