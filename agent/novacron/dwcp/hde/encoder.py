"""HDE encoder: chunk -> zero/dedup/delta -> batch into frames -> zstd/lz4 (sans-I/O).

Chunking is fixed-size and aligned to the stream offset (chunk k covers bytes [k*size, (k+1)*size)).
Content-defined chunking would survive insertions, but a guest's RAM is rewritten in place, never
shifted, and a rolling hash, even vectorised with numpy, would about halve the encoder throughput; fixed chunks
cost one slice and one dict lookup each. After a flush() mid-chunk the next chunk is shortened so
boundaries stay on the same grid. Known limit: QEMU's plain pre-copy stream prefixes each page with
an 8-byte header, so pages drift against a fixed grid and land at a different phase on every resend;
on such a stream dedup and delta find little and HDE is worth about what zstd/lz4 is. They pay on
page-aligned payloads (RAM or disk images, multifd page arrays, repeated buffers); a page-aware
chunker for the QEMU record format is the follow-up if the raw stream must be deduplicated.

framing="qemu" is that chunker: qemu_records.py cuts the stream at QEMU's records; headers, zero-page
records and device state go out as RAW records (never in the dictionary), each page body is one
chunk whose delta base is the last version of the same guest page (an address -> chunk id map,
resemblance only for pages without one), so a page rewritten in 72 bytes costs ~100 bytes on the
wire. Set dict_capacity to the guest's page count (+ ~25% for rewrites): the ring must still hold a
page's previous version when QEMU resends it. Memory, each end, once the ring has filled (every page
version sent fills a slot): ~4.15 KiB per slot on the decoder, ~4.4 KiB on the encoder (its indexes:
content, address, feature), i.e. about 1.1 x dict_capacity x 4 KiB (measured).

On the grid, delta base = resemblance, not position: each chunk yields up to three 32-byte "features" (head,
middle, tail; all-zero ones ignored). A page rewritten with a few small mutations keeps at least one
feature, which names the chunk last sent with it; the XOR against that chunk is kept only when it
has at most half the non-zero bytes of the chunk itself, and the frame compressor squeezes the zeros.
Exact repeats are found by content (the bytes object is the dict key: no hash collisions possible).
"""

from __future__ import annotations

import zlib

import numpy as np

from novacron.dwcp.hde import format as fmt
from novacron.dwcp.hde.adaptive import CompressionGovernor, check_mode
from novacron.dwcp.hde.codec import Compressor
from novacron.dwcp.hde.delta import _FEATURE, _NO_FEATURE, delta_record, features, xor_array
from novacron.dwcp.hde.dictionary import ChunkRing
from novacron.dwcp.hde.qemu_records import PAGE_SIZE, QemuRecordSplitter
from novacron.dwcp.hde.stats import HdeStats
from novacron_sdk.errors import InvalidInput

FRAMINGS = ("grid", "qemu")
_ZERO_PAGE = fmt.LEN.pack(fmt.TAG_ZERO, PAGE_SIZE)
_LITERAL_PAGE = fmt.LEN.pack(fmt.TAG_LITERAL, PAGE_SIZE)
_MID = PAGE_SIZE // 2


class HdeEncoder:
    """Turns a byte stream into HDE frames; see format.py for the wire and decoder.py for the inverse.

    `frame_bytes` is how much stream data one frame carries (bigger: better ratio, more latency).
    Call `record_elapsed(seconds)` after each encode()/flush() with the wall time it took; with
    `set_link_rate(bytes_per_s)` that lets the adaptive mode drop compression on fast links.
    `framing`: "grid" (fixed chunks, format version 1) or "qemu" (QEMU pre-copy records, version 2,
    chunk_size must be 4096; size `dict_capacity` from the guest's RAM, see the module docstring).
    """

    def __init__(
        self,
        *,
        algorithm: str = "zstd",
        level: int = 3,
        chunk_size: int = 4096,
        dict_capacity: int = 65536,
        frame_bytes: int = 1 << 20,
        mode: str = "adaptive",
        delta: bool = True,
        framing: str = "grid",
        seal_later: bool = False,
    ) -> None:
        if not (fmt.MIN_CHUNK <= chunk_size <= fmt.MAX_CHUNK and chunk_size % 1024 == 0):
            raise InvalidInput(
                f"must be a multiple of 1024 in 1024..65536, not {chunk_size}", field="chunk_size"
            )
        if not 1 <= dict_capacity <= fmt.MAX_DICT_CAPACITY:
            raise InvalidInput(
                f"must be 1..{fmt.MAX_DICT_CAPACITY}, not {dict_capacity}", field="dict_capacity"
            )
        if not chunk_size <= frame_bytes <= 8 << 20:
            raise InvalidInput(f"must be chunk_size..8 MiB, not {frame_bytes}", field="frame_bytes")
        if framing not in FRAMINGS:
            raise InvalidInput(f"must be one of {', '.join(FRAMINGS)}, not {framing!r}", field="framing")
        if framing == "qemu" and chunk_size != PAGE_SIZE:
            raise InvalidInput(f"must be {PAGE_SIZE} with framing='qemu', not {chunk_size}", field="chunk_size")
        self._compressor = Compressor(algorithm, level)
        self.framing = framing
        self.algorithm = algorithm
        self.level = level
        self.chunk_size = chunk_size
        self.dict_capacity = dict_capacity
        self.frame_bytes = frame_bytes
        self.delta = delta
        self.seal_later = seal_later  # frames come out as UnsealedFrame (see there)
        self.governor = CompressionGovernor(mode)
        self.stats = HdeStats()
        self._zero = bytes(chunk_size)
        self._pending = b""  # stream bytes that do not yet fill a chunk
        self._offset = 0  # stream offset of the first pending byte
        self._records: list[bytes] = []
        self._frame_in = 0
        self._seq = 0
        self._started = False
        self._ring = ChunkRing(dict_capacity)
        self._feats: list[tuple[bytes, ...]] = [()] * dict_capacity
        self._by_content: dict[bytes, int] = {}
        self._by_feature: dict[bytes, int] = {}
        self._bucket_bytes = 0  # input since the last rate observation
        self._bucket_frames = [0, 0]  # [compressed, raw] frames since the last observation
        self._splitter = QemuRecordSplitter() if framing == "qemu" else None
        self._version = fmt.VERSION_RAW if framing == "qemu" else fmt.VERSION_GRID
        self._by_addr: dict[int, int] = {}  # guest page key -> chunk id of its last version

    # -- live settings -------------------------------------------------------------------------
    def set_level(self, level: int) -> None:
        self._compressor = Compressor(self.algorithm, level)
        self.level = level

    def set_algorithm(self, algorithm: str, level: int | None = None) -> None:
        lvl = self.level if level is None else level
        self._compressor = Compressor(algorithm, lvl)
        self.algorithm, self.level = algorithm, lvl

    def set_mode(self, mode: str) -> None:
        self.governor.mode = check_mode(mode)

    def set_link_rate(self, bytes_per_s: float | None) -> None:
        self.governor.set_link_rate(bytes_per_s)

    def record_elapsed(self, seconds: float) -> None:
        """Wall time of the last encode()/flush() call(s); feeds the compressor-throughput estimate."""
        compressed, raw = self._bucket_frames
        if compressed and not raw:
            self.governor.observe_rate(self._bucket_bytes, seconds)
        if compressed or raw:
            self._bucket_bytes, self._bucket_frames = 0, [0, 0]

    # -- stream --------------------------------------------------------------------------------
    def encode(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        out = self._start()
        n = len(data)
        if not n:
            return out
        self.stats.bytes_in += n
        self._bucket_bytes += n
        if self._splitter is not None:
            self._tokens(self._splitter.feed(bytes(data)), out)
            return out
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        size = self.chunk_size
        pos, end = 0, len(buf)
        first = size - self._offset % size
        if first > end:
            self._pending = buf
            return out
        step = first
        while pos + step <= end:
            self._add(buf[pos : pos + step], out)
            pos += step
            step = size
        self._offset += pos
        self._pending = buf[pos:]
        return out

    def flush(self) -> list[bytes]:
        """Emit everything buffered, ending a frame even if it is small (e.g. the source went idle)."""
        out = self._start()
        if self._splitter is not None:
            self._tokens(self._splitter.flush(), out)
        if self._pending:
            chunk, self._pending = self._pending, b""
            self._offset += len(chunk)
            self._add(chunk, out)
        if self._records:
            out.append(self._frame())
        return out

    # -- internals -----------------------------------------------------------------------------
    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        pre = fmt.preamble(self.chunk_size // 1024, self.dict_capacity, self._version)
        self.stats.bytes_out += len(pre)
        return [pre]

    def _tokens(self, tokens: list[tuple[int, bytes, bytes]], out: list[bytes]) -> None:
        """framing="qemu": RAW records for raw runs, one chunk per page body, the delta base being
        the last version of the same guest page, else (a first send) the page last sent with the
        same 32 middle bytes. One flat loop with locals: it runs per page, and every call or
        attribute lookup saved shows in the throughput (see benchmarks/hde_qemu.py)."""
        st = self.stats
        ring, slots, cap = self._ring, self._ring._slots, self.dict_capacity
        by_content, by_addr, by_feature, feats_of = self._by_content, self._by_addr, self._by_feature, self._feats
        pack, ref, zero, delta_on = fmt.LEN.pack, fmt.REF.pack, self._zero, self.delta
        records, frame_in, limit = self._records, self._frame_in, self.frame_bytes
        pages = literal = dedup = zeros = deltas = raw_bytes = 0
        for key, raw, data in tokens:
            if raw:
                n = len(raw)
                if n < limit - frame_in:
                    records.append(pack(fmt.TAG_RAW, n) + raw)
                    frame_in += n
                    raw_bytes += n
                else:
                    self._frame_in = frame_in
                    self._add_raw(raw, out)
                    records, frame_in = self._records, self._frame_in
            if key < 0:
                continue
            pages += 1
            if data == zero:
                zeros += 1
                records.append(_ZERO_PAGE)
            else:
                feats: tuple[bytes, ...] = ()
                cid = by_content.get(data)
                if cid is not None:
                    dedup += 1
                    records.append(ref(fmt.TAG_REF, cid))
                    data = slots[cid % cap] or data
                    feats = feats_of[cid % cap]
                else:
                    rec = None
                    if delta_on:
                        base_id = by_addr.get(key)
                        if base_id is None or ring.next_id - base_id > cap:
                            mid = data[_MID : _MID + _FEATURE]
                            if mid != _NO_FEATURE:
                                feats = (mid,)
                                base_id = by_feature.get(mid)
                        if base_id is not None and ring.next_id - base_id <= cap:
                            rec = delta_record(data, slots[base_id % cap], base_id)  # type: ignore[arg-type]
                    if rec is None:
                        literal += 1
                        records.append(_LITERAL_PAGE)
                        records.append(data)
                    else:
                        deltas += 1
                        records.append(rec)
                # insert into the dictionary, dropping the index entries of the evicted chunk
                cid = ring.next_id
                slot = cid % cap
                evicted = slots[slot]
                if evicted is not None:
                    old = cid - cap
                    if by_content.get(evicted) == old:
                        del by_content[evicted]
                    for f in feats_of[slot]:
                        if by_feature.get(f) == old:
                            del by_feature[f]
                slots[slot] = data
                ring.next_id = cid + 1
                feats_of[slot] = feats
                by_content[data] = cid
                for f in feats:
                    by_feature[f] = cid
                by_addr[key] = cid
            frame_in += PAGE_SIZE
            if frame_in >= limit:
                self._frame_in = frame_in
                out.append(self._frame())
                records, frame_in = self._records, 0
        self._frame_in = frame_in
        st.chunks += pages
        st.literal_chunks += literal
        st.dedup_hits += dedup
        st.zero_chunks += zeros
        st.delta_chunks += deltas
        st.raw_bytes += raw_bytes

    def _add_raw(self, data: bytes, out: list[bytes]) -> None:
        """A long raw run: RAW records cut so that no frame outgrows frame_bytes."""
        self.stats.raw_bytes += len(data)
        pos, n = 0, len(data)
        while pos < n:
            room = self.frame_bytes - self._frame_in  # > 0: a full frame is sent at once
            piece = data if not pos and n <= room else data[pos : pos + room]
            self._records.append(fmt.LEN.pack(fmt.TAG_RAW, len(piece)))
            self._records.append(piece)
            pos += len(piece)
            self._frame_in += len(piece)
            if self._frame_in >= self.frame_bytes:
                out.append(self._frame())

    def _add(self, chunk: bytes, out: list[bytes]) -> None:
        n = len(chunk)
        st = self.stats
        st.chunks += 1
        if chunk == self._zero if n == self.chunk_size else chunk.count(0) == n:
            st.zero_chunks += 1
            self._records.append(fmt.LEN.pack(fmt.TAG_ZERO, n))
        else:
            cid = self._by_content.get(chunk)
            if cid is not None:
                st.dedup_hits += 1
                self._records.append(fmt.REF.pack(fmt.TAG_REF, cid))
                self._insert(self._ring.get(cid) or chunk, self._feats[cid % self.dict_capacity])
            else:
                feats = features(chunk) if self.delta else ()
                self._records.append(self._literal_or_delta(chunk, feats))
                self._insert(chunk, feats)
        self._frame_in += n
        if self._frame_in >= self.frame_bytes:
            out.append(self._frame())

    def _literal_or_delta(self, chunk: bytes, feats: tuple[bytes, ...]) -> bytes:
        n = len(chunk)
        nonzero = -1
        tried: set[int] = set()
        for f in feats:
            base_id = self._by_feature.get(f)
            if base_id is None or base_id in tried:
                continue
            tried.add(base_id)
            base = self._ring.get(base_id)
            if base is None:
                continue
            x = xor_array(chunk, base)
            if nonzero < 0:
                nonzero = int(np.count_nonzero(np.frombuffer(chunk, np.uint8)))
            if 2 * int(np.count_nonzero(x)) <= nonzero:
                self.stats.delta_chunks += 1
                return fmt.DELTA.pack(fmt.TAG_DELTA, base_id, n) + x.tobytes()
        self.stats.literal_chunks += 1
        return fmt.LEN.pack(fmt.TAG_LITERAL, n) + chunk

    def _insert(self, chunk: bytes, feats: tuple[bytes, ...]) -> int:
        cid, evicted = self._ring.append(chunk)
        slot = cid % self.dict_capacity
        if evicted is not None:
            old = cid - self.dict_capacity
            if self._by_content.get(evicted) == old:
                del self._by_content[evicted]
            for f in self._feats[slot]:
                if self._by_feature.get(f) == old:
                    del self._by_feature[f]
        self._feats[slot] = feats
        self._by_content[chunk] = cid
        for f in feats:
            self._by_feature[f] = cid
        return cid

    def _frame(self) -> bytes:
        payload = b"".join(self._records)
        out_len, seq = self._frame_in, self._seq
        self._records, self._frame_in = [], 0
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        if self.seal_later:
            return UnsealedFrame(self, payload, out_len, seq)  # type: ignore[return-value]
        return self._seal(payload, out_len, seq)

    def _seal(self, payload: bytes, out_len: int, seq: int) -> bytes:
        codec, wire = fmt.CODEC_RAW, payload
        if self._compressor.codec != fmt.CODEC_RAW and self.governor.should_compress():
            codec, wire = self._compressor.compress(payload)
            self.governor.observe_ratio(len(payload), len(wire))
            if len(wire) >= len(payload):
                codec, wire = fmt.CODEC_RAW, payload
        head = fmt.FRAME.pack(
            fmt.FRAME_MAGIC, self._version, codec, seq, len(wire), len(payload), out_len, 0
        )
        crc = zlib.crc32(wire, zlib.crc32(head[:20]))
        if codec == fmt.CODEC_RAW:
            self.stats.raw_frames += 1
            self._bucket_frames[1] += 1
        else:
            self.stats.compressed_frames += 1
            self._bucket_frames[0] += 1
        frame = head[:20] + crc.to_bytes(4, "little") + wire
        self.stats.bytes_out += len(frame)
        return frame


class UnsealedFrame:
    """A frame whose payload is built but not yet compressed (`seal_later=True`): `seal()` returns
    the frame's bytes. WHY: compression is most of the encoder's time and releases the GIL, so a
    second thread can seal frame k while the first builds frame k+1 (the pipe's sender does;
    transport/pipe.py). Seal in the order given: frames carry sequence numbers. Its length is the
    payload's, so a byte-bounded queue can hold it."""

    __slots__ = ("_encoder", "_payload", "_out_len", "_seq")

    def __init__(self, encoder: HdeEncoder, payload: bytes, out_len: int, seq: int) -> None:
        self._encoder, self._payload, self._out_len, self._seq = encoder, payload, out_len, seq

    def __len__(self) -> int:
        return len(self._payload)

    def seal(self) -> bytes:
        return self._encoder._seal(self._payload, self._out_len, self._seq)
