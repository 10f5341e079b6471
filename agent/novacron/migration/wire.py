"""The first bytes of every migration channel: which migration and which QEMU connection it carries.

One line, `NCMIG1 {"m": id, "c": n, "d": direction}\\n`, then the QEMU bytes. Directions: "fwd" and
"back" name AMST channels, "pipe" (raw), "pipe-hde" (HDE frames) and "pipe-back" TLS pipes
(pipe_relay.py). Sent inside the
(mutually authenticated) channel, so only a cluster member can name a migration, and the
receiving agent only accepts names of migrations it prepared. Sans-I/O: bytes in, header out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

MAGIC = b"NCMIG1 "
Direction = Literal["fwd", "back", "pipe", "pipe-hde", "pipe-back"]
DIRECTIONS = ("fwd", "back", "pipe", "pipe-hde", "pipe-back")
MAX_HEADER = 1024


class HeaderError(ValueError):
    """The channel does not start with a valid migration header."""


@dataclass(frozen=True)
class ChannelHeader:
    migration: str
    conn: int
    direction: Direction = "fwd"

    def encode(self) -> bytes:
        body = json.dumps({"m": self.migration, "c": self.conn, "d": self.direction}, separators=(",", ":"))
        return MAGIC + body.encode() + b"\n"


class HeaderParser:
    """Feed channel bytes until `header` is set; `feed` then returns the bytes after it."""

    def __init__(self) -> None:
        self._buf = b""
        self.header: ChannelHeader | None = None

    def feed(self, data: bytes) -> bytes:
        if self.header is not None:
            return data
        self._buf += data
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER or not MAGIC.startswith(self._buf[: len(MAGIC)]):
                raise HeaderError(f"no migration header in the first {len(self._buf)} bytes")
            return b""
        line, rest = self._buf[:end], self._buf[end + 1 :]
        self._buf = b""
        if end > MAX_HEADER or not line.startswith(MAGIC):
            raise HeaderError("channel does not start with NCMIG1")
        try:
            doc = json.loads(line[len(MAGIC) :])
            mig, conn, direction = doc["m"], doc["c"], doc.get("d", "fwd")
        except (ValueError, KeyError, TypeError) as exc:
            raise HeaderError(f"malformed migration header: {exc}") from None
        if not isinstance(mig, str) or not mig or isinstance(conn, bool) or not isinstance(conn, int):
            raise HeaderError("migration header needs a string m and an integer c")
        if direction not in DIRECTIONS or not 0 <= conn < 1024:
            raise HeaderError(f"bad direction {direction!r} or connection {conn!r}")
        self.header = ChannelHeader(mig, conn, direction)
        return rest
