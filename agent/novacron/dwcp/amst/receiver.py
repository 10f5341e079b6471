"""AMST receiver core: ordered reassembly of segments arriving on any stream, with back-pressure.

Each stream carries its segments in increasing sequence order (TCP keeps the sender's order), so a
stream whose last segment is already past the next missing one cannot be the one bringing it. When
the reorder buffer is over `reorder_limit`, should_read() pauses exactly those streams and keeps the
others open: the buffer stays bounded (limit + one read per open stream) and the missing segment can
always arrive, so back-pressure never deadlocks. Buffered segments are accounted with a fixed
overhead each, which also bounds their count against floods of tiny segments.
"""

from __future__ import annotations

from novacron.dwcp.amst.errors import AmstProtocolError
from novacron.dwcp.amst.events import Aborted, Data, EndOfChannel, Event, StreamClosed
from novacron.dwcp.amst.frames import MAX_PAYLOAD, Frame, FrameParser, FrameType, encode_frame
from novacron_sdk.errors import InvalidInput

SEGMENT_OVERHEAD = 256


class AmstReceiver:
    def __init__(
        self,
        *,
        channel: int = 0,
        reorder_limit: int = 32 << 20,
        max_streams: int = 512,  # open at once; indices themselves may go up to 65535
        max_payload: int = MAX_PAYLOAD,
    ) -> None:
        if reorder_limit < 1:
            raise InvalidInput(f"must be >= 1 byte, not {reorder_limit}", field="reorder_limit")
        self.channel = channel
        self.reorder_limit = reorder_limit
        self.max_streams = max_streams
        self.max_payload = max_payload
        self.next_seq = 0
        self.delivered_bytes = 0
        self.buffered_bytes = 0  # accounted: payload + SEGMENT_OVERHEAD per segment
        self.finished = False
        self.aborted: str | None = None
        self._buffer: dict[int, bytes] = {}
        self._parsers: dict[int, FrameParser] = {}
        self._last_seq: dict[int, int] = {}
        self._closed: set[int] = set()
        self._fin: tuple[int, int, int] | None = None  # segment count, total bytes, stream
        self._error: AmstProtocolError | None = None

    # -- flow control --------------------------------------------------------------------------
    def should_read(self, stream: int) -> bool:
        """Whether the adapter should read more from `stream` now (re-ask after every feed)."""
        if self._error is not None or self.finished or self.aborted is not None or stream in self._closed:
            return False
        if self.buffered_bytes <= self.reorder_limit:
            return True
        return self._last_seq.get(stream, -1) < self.next_seq

    def is_closed(self, stream: int) -> bool:
        """True once the sender retired `stream` with STREAM_CLOSE."""
        return stream in self._closed

    def fin_ack(self, stream: int) -> bytes:
        """The frame the adapter writes back on the FIN's stream once EndOfChannel was reported."""
        return encode_frame(FrameType.FIN_ACK, stream=stream, channel=self.channel)

    # -- input ---------------------------------------------------------------------------------
    def feed(self, stream: int, data: bytes | bytearray | memoryview) -> list[Event]:
        if self._error is not None:
            raise AmstProtocolError(f"receiver already failed and accepts no more input: {self._error}")
        try:
            return self._feed(stream, data)
        except AmstProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            self.buffered_bytes = 0
            raise

    def _feed(self, stream: int, data: bytes | bytearray | memoryview) -> list[Event]:
        if not 0 <= stream <= 0xFFFF:
            raise AmstProtocolError(f"stream index {stream} outside 0..65535")
        if stream in self._closed:
            if data:
                raise AmstProtocolError(f"stream {stream}: {len(data)} bytes after STREAM_CLOSE")
            return []
        parser = self._parsers.get(stream)
        if parser is None:
            if len(self._parsers) >= self.max_streams:
                raise AmstProtocolError(f"stream {stream} would exceed {self.max_streams} open streams")
            parser = self._parsers[stream] = FrameParser(stream, max_payload=self.max_payload)
        events: list[Event] = []
        for frame in parser.feed(data):
            if stream in self._closed:
                raise AmstProtocolError(f"stream {stream}: {frame.type.name} after STREAM_CLOSE")
            if self.aborted is not None:
                raise AmstProtocolError(f"stream {stream}: {frame.type.name} after ABORT")
            if frame.channel != self.channel:
                raise AmstProtocolError(
                    f"stream {stream}: frame for channel {frame.channel}, expected {self.channel}"
                )
            self._on_frame(stream, frame, events)
        if stream in self._closed:
            if parser.buffered:
                raise AmstProtocolError(f"stream {stream}: {parser.buffered} bytes after STREAM_CLOSE")
            del self._parsers[stream]
        return events

    def _on_frame(self, stream: int, frame: Frame, events: list[Event]) -> None:
        ftype = frame.type
        if ftype == FrameType.DATA:
            self._on_data(stream, frame, events)
        elif ftype == FrameType.FIN:
            self._on_fin(stream, frame, events)
        elif ftype == FrameType.STREAM_CLOSE:
            self._closed.add(stream)
            events.append(StreamClosed(stream))
        elif ftype == FrameType.ABORT:
            self.aborted = frame.payload.decode("utf-8", "replace")
            events.append(Aborted(self.aborted))
        else:
            raise AmstProtocolError(f"stream {stream}: unexpected {ftype.name} frame on a data stream")

    def _on_data(self, stream: int, frame: Frame, events: list[Event]) -> None:
        seq, payload = frame.seq, frame.payload
        where = f"stream {stream}: DATA seq {seq}"
        if self.finished:
            raise AmstProtocolError(f"{where} after the channel ended")
        if not payload:
            raise AmstProtocolError(f"{where} is empty")
        if seq <= self._last_seq.get(stream, -1):
            raise AmstProtocolError(
                f"{where} is not above the stream's previous seq {self._last_seq[stream]}"
            )
        if seq < self.next_seq or seq in self._buffer:
            raise AmstProtocolError(f"{where} is a duplicate")
        if self._fin is not None and seq >= self._fin[0]:
            raise AmstProtocolError(f"{where} is beyond the FIN's segment count {self._fin[0]}")
        self._last_seq[stream] = seq
        if seq != self.next_seq:
            self._buffer[seq] = payload
            self.buffered_bytes += len(payload) + SEGMENT_OVERHEAD
            return
        self._deliver(payload, events)
        buf = self._buffer
        while self.next_seq in buf:
            nxt = buf.pop(self.next_seq)
            self.buffered_bytes -= len(nxt) + SEGMENT_OVERHEAD
            self._deliver(nxt, events)
        self._check_end(events)

    def _deliver(self, payload: bytes, events: list[Event]) -> None:
        self.next_seq += 1
        self.delivered_bytes += len(payload)
        events.append(Data(payload))

    def _on_fin(self, stream: int, frame: Frame, events: list[Event]) -> None:
        if self._fin is not None:
            raise AmstProtocolError(f"stream {stream}: second FIN")
        if len(frame.payload) != 8:
            raise AmstProtocolError(f"stream {stream}: FIN payload is {len(frame.payload)} bytes, expected 8")
        count, total = frame.seq, int.from_bytes(frame.payload, "big")
        highest = max(self._buffer, default=self.next_seq - 1)
        if count < self.next_seq or highest >= count:
            raise AmstProtocolError(
                f"stream {stream}: FIN says {count} segments but seq {highest} was received"
            )
        self._fin = (count, total, stream)
        self._check_end(events)

    def _check_end(self, events: list[Event]) -> None:
        if self._fin is None or self.next_seq != self._fin[0]:
            return
        count, total, stream = self._fin
        if self.delivered_bytes != total:
            raise AmstProtocolError(f"channel ended with {self.delivered_bytes} bytes, FIN declares {total}")
        self.finished = True
        events.append(EndOfChannel(total, stream))
