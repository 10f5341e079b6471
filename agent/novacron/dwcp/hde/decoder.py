"""HDE decoder (sans-I/O): accepts the encoded stream in any splits, returns the original bytes.

Hostile input is expected (it comes off the network): every declared length is bounded before any
allocation, the frame checksum is verified before decompressing, references must name a live
dictionary slot, and one feed() decodes at most `max_output` bytes so a tiny, highly compressed input
cannot expand without limit (check `has_backlog` and call feed(b"") to continue). The first error
is final, as in h11.

`max_dict_bytes` caps the dictionary a preamble may declare (capacity x chunk size). It is also the
memory this end commits: the ring ends up holding that many bytes of chunks (+ ~33 bytes of object
header per chunk). A framing="qemu" sender sizes its dictionary to the guest's RAM, so the receiver
must allow at least that (the 1 GiB default covers guests up to ~800 MiB at 1.25 x RAM).
"""

from __future__ import annotations

import zlib

from novacron.dwcp.hde import format as fmt
from novacron.dwcp.hde.codec import Decompressor
from novacron.dwcp.hde.delta import xor_chunk
from novacron.dwcp.hde.dictionary import ChunkRing
from novacron.dwcp.hde.errors import HdeProtocolError


class HdeDecoder:
    def __init__(self, *, max_dict_bytes: int = 1 << 30, max_output: int = 64 << 20) -> None:
        self.max_dict_bytes = max_dict_bytes
        self.max_output = max_output
        self.bytes_in = 0
        self.bytes_out = 0
        self._buf = bytearray()
        self._ring: ChunkRing | None = None
        self._chunk_size = 0
        self._zero = b""
        self._seq = 0
        self._version = 0  # from the preamble; every frame must carry the same
        self._header: tuple[int, int, int, int, int] | None = None  # codec, wire, payload, out, crc
        self._error: HdeProtocolError | None = None
        self._decompressor = Decompressor()

    @property
    def has_backlog(self) -> bool:
        """True when complete frames are still buffered because the last feed hit `max_output`."""
        return self._error is None and self._complete_frame_buffered()

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        if self._error is not None:
            raise HdeProtocolError(f"decoder already failed and accepts no more input: {self._error}")
        self.bytes_in += len(data)
        self._buf += data
        try:
            return self._drain()
        except HdeProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise

    def close(self) -> None:
        """Declare end of stream; raises if it stopped inside a frame (a truncated stream)."""
        if self._error is None and (self._buf or self._header is not None):
            self._error = HdeProtocolError(
                f"stream ended inside a frame ({len(self._buf)} bytes of it received)"
            )
        if self._error is not None:
            raise self._error

    # -- internals -----------------------------------------------------------------------------
    def _complete_frame_buffered(self) -> bool:
        if self._header is not None:
            return len(self._buf) >= self._header[1]
        return len(self._buf) >= fmt.FRAME.size and self._ring is not None

    def _drain(self) -> bytes:
        out: list[bytes] = []
        produced = 0
        buf = self._buf
        pos = 0
        if self._ring is None:
            if len(buf) < fmt.PREAMBLE.size:
                return b""
            self._preamble(bytes(buf[: fmt.PREAMBLE.size]))
            pos = fmt.PREAMBLE.size
        while produced < self.max_output:
            if self._header is None:
                if len(buf) - pos < fmt.FRAME.size:
                    break
                self._header = self._parse_header(bytes(buf[pos : pos + fmt.FRAME.size]))
                pos += fmt.FRAME.size
            codec, wire_len, payload_len, out_len, crc = self._header
            if len(buf) - pos < wire_len:
                break
            wire = bytes(buf[pos : pos + wire_len])
            pos += wire_len
            head = fmt.FRAME.pack(
                fmt.FRAME_MAGIC, self._version, codec, self._seq, wire_len, payload_len, out_len, 0
            )
            if zlib.crc32(wire, zlib.crc32(head[:20])) != crc:
                raise HdeProtocolError(f"frame {self._seq}: checksum mismatch (corrupt or altered data)")
            payload = self._decompressor.decompress(codec, wire, payload_len)
            self._records(payload, out_len, out)
            produced += out_len
            self._header = None
            self._seq = (self._seq + 1) & 0xFFFFFFFF
        del buf[:pos]
        result = b"".join(out)
        self.bytes_out += len(result)
        return result

    def _preamble(self, raw: bytes) -> None:
        magic, version, reserved, chunk_kib, capacity, crc = fmt.PREAMBLE.unpack(raw)
        if magic != fmt.PREAMBLE_MAGIC:
            raise HdeProtocolError(f"stream does not start with the HDE preamble (got {magic!r})")
        if zlib.crc32(raw[:12]) != crc:
            raise HdeProtocolError("preamble checksum mismatch (corrupt stream start)")
        if version not in fmt.VERSIONS or reserved:
            raise HdeProtocolError(
                f"unsupported HDE version {version} (reserved={reserved}); this decoder reads {fmt.VERSIONS}"
            )
        chunk_size = chunk_kib * 1024
        if not fmt.MIN_CHUNK <= chunk_size <= fmt.MAX_CHUNK:
            raise HdeProtocolError(f"preamble declares chunk size {chunk_size}, allowed 1..64 KiB")
        if not 1 <= capacity <= fmt.MAX_DICT_CAPACITY or capacity * chunk_size > self.max_dict_bytes:
            raise HdeProtocolError(
                f"preamble declares a dictionary of {capacity} x {chunk_size} bytes, "
                f"over the limit of {self.max_dict_bytes} bytes"
            )
        self._ring = ChunkRing(capacity)
        self._version = version
        self._chunk_size = chunk_size
        self._zero = bytes(chunk_size)

    def _parse_header(self, raw: bytes) -> tuple[int, int, int, int, int]:
        magic, version, codec, seq, wire_len, payload_len, out_len, crc = fmt.FRAME.unpack(raw)
        where = f"frame {self._seq}"
        if magic != fmt.FRAME_MAGIC:
            raise HdeProtocolError(f"{where}: bad magic {magic!r} (stream out of sync or not HDE)")
        if version != self._version:
            raise HdeProtocolError(f"{where}: version {version} in a version {self._version} stream")
        if codec not in (fmt.CODEC_RAW, fmt.CODEC_ZSTD, fmt.CODEC_LZ4):
            raise HdeProtocolError(f"{where}: unknown codec {codec}")
        if seq != self._seq:
            raise HdeProtocolError(
                f"{where}: header carries sequence {seq} (frame lost, repeated or reordered)"
            )
        for name, value in (("wire", wire_len), ("payload", payload_len), ("output", out_len)):
            if value > fmt.MAX_FRAME:
                raise HdeProtocolError(
                    f"{where}: {name} length {value} exceeds the {fmt.MAX_FRAME}-byte limit"
                )
        if codec == fmt.CODEC_RAW and wire_len != payload_len:
            raise HdeProtocolError(
                f"{where}: raw frame with wire length {wire_len} != payload length {payload_len}"
            )
        if payload_len == 0 or out_len == 0:
            raise HdeProtocolError(f"{where}: empty frame")
        return codec, wire_len, payload_len, out_len, crc

    def _records(self, payload: bytes, out_len: int, result: list[bytes]) -> None:
        """Appends the frame's decoded pieces to `result` (joined once per feed, not per frame)."""
        ring = self._ring
        assert ring is not None
        size = self._chunk_size
        out = result
        total, pos, end = 0, 0, len(payload)
        where = f"frame {self._seq}"
        while pos < end:
            tag = payload[pos]
            if tag == fmt.TAG_REF:
                if end - pos < fmt.REF.size:
                    raise HdeProtocolError(f"{where}: truncated reference record at {pos}")
                cid = fmt.REF.unpack_from(payload, pos)[1]
                pos += fmt.REF.size
                chunk = ring.get(cid)
                if chunk is None:
                    raise HdeProtocolError(f"{where}: reference to chunk {cid}, which is unknown or evicted")
                ring.append(chunk)
            elif tag in (fmt.TAG_LITERAL, fmt.TAG_ZERO):
                if end - pos < fmt.LEN.size:
                    raise HdeProtocolError(f"{where}: truncated record header at {pos}")
                n = fmt.LEN.unpack_from(payload, pos)[1]
                pos += fmt.LEN.size
                if not 1 <= n <= size:
                    raise HdeProtocolError(f"{where}: chunk length {n} outside 1..{size}")
                if tag == fmt.TAG_ZERO:
                    chunk = self._zero if n == size else bytes(n)
                else:
                    if end - pos < n:
                        raise HdeProtocolError(f"{where}: literal of {n} bytes runs past the frame")
                    chunk = payload[pos : pos + n]
                    pos += n
                    ring.append(chunk)
            elif tag == fmt.TAG_RAW and self._version == fmt.VERSION_RAW:
                if end - pos < fmt.LEN.size:
                    raise HdeProtocolError(f"{where}: truncated record header at {pos}")
                n = fmt.LEN.unpack_from(payload, pos)[1]
                pos += fmt.LEN.size
                if not 1 <= n <= end - pos:
                    raise HdeProtocolError(f"{where}: raw run of {n} bytes is empty or runs past the frame")
                chunk = payload[pos : pos + n]
                pos += n
            elif tag == fmt.TAG_DELTA:
                if end - pos < fmt.DELTA.size:
                    raise HdeProtocolError(f"{where}: truncated delta record at {pos}")
                _, base_id, n = fmt.DELTA.unpack_from(payload, pos)
                pos += fmt.DELTA.size
                if not 1 <= n <= size or end - pos < n:
                    raise HdeProtocolError(f"{where}: delta length {n} outside 1..{size} or past the frame")
                base = ring.get(base_id)
                if base is None:
                    raise HdeProtocolError(
                        f"{where}: delta against chunk {base_id}, which is unknown or evicted"
                    )
                chunk = xor_chunk(payload[pos : pos + n], base)
                pos += n
                ring.append(chunk)
            else:
                raise HdeProtocolError(f"{where}: unknown record tag 0x{tag:02x} at {pos}")
            total += len(chunk)
            if total > out_len:
                raise HdeProtocolError(f"{where}: records expand past the declared {out_len} bytes")
            out.append(chunk)
        if total != out_len:
            raise HdeProtocolError(f"{where}: records expand to {total} bytes, header declares {out_len}")
