"""HDE wire format: one preamble, then self-delimiting frames of chunk records.

Stream  := Preamble Frame*
Preamble (16 bytes, little endian):
    magic b"HDES" | version u8 | reserved u8 (0) | chunk_size u16 (KiB, 1..64) | dict_capacity u32 |
    crc u32 (crc32 of the 12 bytes before it)
    It tells the decoder how large its mirror dictionary must be, so a mismatch between the two ends'
    settings cannot silently corrupt references.
Frame header (24 bytes, little endian):
    magic b"HF" | version u8 | codec u8 | seq u32 | wire_len u32 | payload_len u32 | out_len u32 | crc u32
    codec: 0 raw, 1 zstd, 2 lz4.  seq counts frames from 0 so a lost or repeated frame is detected.
    wire_len: bytes that follow the header; payload_len: size after decompression; out_len: decoded
    bytes the records expand to. crc = crc32(header[:20] + wire bytes), checked before decompressing.
Records (inside the decompressed payload), tag byte first:
    0x01 LITERAL  len u32, data            - a new chunk, added to the dictionary
    0x02 ZERO     len u32                  - all-zero chunk, not added (it costs 5 bytes anyway)
    0x03 REF      id u64                   - repeat of dictionary chunk `id`, re-added (refresh)
    0x04 DELTA    base u64, len u32, xor   - chunk = xor with dictionary chunk `base` (zero padded)
    0x05 RAW      len u32, data            - stream bytes that are no chunk (QEMU record headers,
                                             device state); not added to the dictionary. Version 2 only.
Version 1 streams (fixed grid) use records 0x01..0x04; version 2 (framing="qemu") adds RAW. The
preamble and every frame carry the version; a decoder accepts both, an old one refuses version 2.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

PREAMBLE = struct.Struct("<4sBBHII")
PREAMBLE_MAGIC: Final = b"HDES"
FRAME = struct.Struct("<2sBBIIIII")
FRAME_MAGIC: Final = b"HF"
VERSION_GRID: Final = 1  # records 0x01..0x04 only
VERSION_RAW: Final = 2  # adds RAW records (framing="qemu"); a version-1 decoder refuses it up front
VERSION: Final = VERSION_GRID
VERSIONS: Final = (VERSION_GRID, VERSION_RAW)

CODEC_RAW: Final = 0
CODEC_ZSTD: Final = 1
CODEC_LZ4: Final = 2

TAG_LITERAL: Final = 0x01
TAG_ZERO: Final = 0x02
TAG_REF: Final = 0x03
TAG_DELTA: Final = 0x04
TAG_RAW: Final = 0x05

LEN = struct.Struct("<BI")  # tag + length (LITERAL, ZERO)
REF = struct.Struct("<BQ")  # tag + chunk id
DELTA = struct.Struct("<BQI")  # tag + base id + length

MAX_FRAME: Final = 16 << 20  # bound for wire_len, payload_len and out_len
MAX_CHUNK: Final = 64 << 10
MIN_CHUNK: Final = 1 << 10
MAX_DICT_CAPACITY: Final = 1 << 24  # 64 GiB of 4 KiB pages; the decoder's max_dict_bytes is the real bound


def preamble(chunk_kib: int, dict_capacity: int, version: int = VERSION_GRID) -> bytes:
    head = PREAMBLE.pack(PREAMBLE_MAGIC, version, 0, chunk_kib, dict_capacity, 0)[:12]
    return head + zlib.crc32(head).to_bytes(4, "little")
