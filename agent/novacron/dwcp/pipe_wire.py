"""Sans-I/O codec of the TLS pipe (pipe.py): the plaintext preamble that tells a DWCP listener "this
connection is a pipe, not an AMST stream", and the records of a pipe's return direction.

A forward pipe carries QEMU's bytes as they are, or HDE's self-delimiting frames (no framing of its
own: that is what makes it cheap). Its
return pipe, destination -> source, carries two kinds of record, so the source learns how far the
destination QEMU has read without a second connection:

    offset  size  field
    0       1     type     1 DATA (QEMU's return-path bytes follow), 2 DELIVERED
    1       8     value    DATA: payload length (1..MAX_DATA); DELIVERED: bytes of the forward
                           pipe the destination QEMU's socket has taken so far (never decreases)
    9       n     payload  DATA only

Integers big-endian. Bytes in, events out; bad input raises PipeProtocolError naming the field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

PREAMBLE: Final = b"NCP1"  # never the first bytes of a TLS ClientHello (0x16 0x03 ...)
DATA, DELIVERED = 1, 2
RECORD = struct.Struct(">BQ")
MAX_DATA: Final = 1 << 20


class PipeProtocolError(ValueError):
    """The peer sent bytes that are not a valid pipe record."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"pipe record field {field!r}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Data:
    payload: bytes


@dataclass(frozen=True)
class Delivered:
    total: int


def encode_data(payload: bytes | memoryview) -> bytes:
    if not 0 < len(payload) <= MAX_DATA:
        raise PipeProtocolError("length", f"must be 1..{MAX_DATA}, not {len(payload)}")
    return RECORD.pack(DATA, len(payload)) + bytes(payload)


def encode_delivered(total: int) -> bytes:
    if total < 0:
        raise PipeProtocolError("value", f"delivered bytes cannot be negative ({total})")
    return RECORD.pack(DELIVERED, total)


class BackParser:
    """Feed any split of the return pipe's bytes; get whole records. DELIVERED must not go back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.delivered = 0

    def feed(self, data: bytes | memoryview) -> list[Data | Delivered]:
        self._buf += data
        out: list[Data | Delivered] = []
        while len(self._buf) >= RECORD.size:
            kind, value = RECORD.unpack_from(self._buf)
            if kind == DELIVERED:
                if value < self.delivered:
                    raise PipeProtocolError("value", f"DELIVERED went back from {self.delivered} to {value}")
                self.delivered = value
                out.append(Delivered(value))
                del self._buf[: RECORD.size]
            elif kind == DATA:
                if not 0 < value <= MAX_DATA:
                    raise PipeProtocolError("value", f"DATA length must be 1..{MAX_DATA}, not {value}")
                end = RECORD.size + value
                if len(self._buf) < end:
                    break
                out.append(Data(bytes(self._buf[RECORD.size : end])))
                del self._buf[:end]
            else:
                raise PipeProtocolError("type", f"unknown record type {kind}")
        return out

    @property
    def partial(self) -> bool:
        """True while a record is cut short: an end of stream now is a truncation."""
        return bool(self._buf)
