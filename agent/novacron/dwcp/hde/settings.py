"""HdeSettings: how a channel's HDE encoder is set up (see HdeEncoder), as one immutable value the
migration plan chooses and the transport hands to the encoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from novacron_sdk.errors import InvalidInput


@dataclass(frozen=True)
class HdeSettings:
    """Encoder settings for a channel: HdeEncoder's keyword arguments."""

    algorithm: str = "zstd"
    level: int = 3
    chunk_size: int = 4096
    dict_capacity: int = 65536
    frame_bytes: int = 1 << 20
    mode: str = "adaptive"
    framing: str = "grid"  # "qemu": cut at QEMU's pre-copy records (chunk_size 4096, see HdeEncoder)

    @classmethod
    def of(cls, value: HdeSettings | Mapping[str, Any] | None) -> HdeSettings | None:
        if value is None or isinstance(value, HdeSettings):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}", field="hde")
        return cls(**value)
