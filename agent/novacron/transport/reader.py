"""ChannelReader: the receiving end of one channel, fed straight from the streams' protocols.

Bytes go from each transport's data_received into the AmstReceiver with no intermediate stream
buffer. Flow control is the transports' pause_reading/resume_reading, re-evaluated after every feed
and every consumer read: a stream reads only while AmstReceiver.should_read() allows it and the
output queue has room, so a slow consumer or a stalled stream pushes back through TCP to the sender
instead of growing memory here.

Credit (when the sender asked for it in its HELLO): after the consumer has taken another
CREDIT_STEP decoded bytes, the reader tells the sender how many it has taken in all (an AMST CREDIT
frame on a live stream), and the sender keeps at most its `raw_window` of decoded bytes ahead of
that. The byte limits above count compressed bytes, which HDE can expand 30x; credit bounds what
waits between the two ends in the consumer's own terms (a migration's switch-over waits for it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from novacron.dwcp.amst import (
    Aborted,
    AmstProtocolError,
    AmstReceiver,
    Data,
    EndOfChannel,
    Event,
    StreamClosed,
    credit,
)
from novacron.dwcp.hde import HdeDecoder, HdeProtocolError
from novacron.transport.errors import ChannelError

log = logging.getLogger(__name__)
CREDIT_STEP = 256 << 10
DECODE_STEP = 2 << 20


class ChannelReader:
    """The byte stream of one incoming channel: `await read()` until it returns b"" (complete)."""

    def __init__(
        self, session_id: bytes, *, hde: bool, reorder_limit: int, max_streams: int, output_limit: int
    ) -> None:
        self.session_id = session_id
        self.hde = hde
        self.rx = AmstReceiver(reorder_limit=reorder_limit, max_streams=max_streams)
        self.bytes_out = 0
        self.streams_seen: set[int] = set()  # every stream index that ever joined (stats, tests)
        self._decoder = HdeDecoder(max_output=DECODE_STEP) if hde else None
        self._decode_lock = asyncio.Lock()
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._out_limit = output_limit
        self._transports: dict[int, asyncio.Transport] = {}
        self._paused: set[int] = set()
        self._error: ChannelError | None = None
        self._ended = False
        self._changed = asyncio.Event()
        self._credit = False
        self._credited = 0

    def enable_credit(self) -> None:
        """The sender asked for CREDIT frames (its HELLO said so)."""
        self._credit = True

    # -- consumer side -------------------------------------------------------------------------
    @property
    def streams(self) -> int:
        return len(self._transports)

    @property
    def finished(self) -> bool:
        return self._ended

    @property
    def failed(self) -> bool:
        return self._error is not None

    def __aiter__(self) -> ChannelReader:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read()
        if not data:
            raise StopAsyncIteration
        return data

    async def read(self, max_bytes: int = 4 << 20) -> bytes:
        """Next decoded bytes, in order; b"" once the channel ended complete. Raises ChannelError.

        With HDE a call decodes at most DECODE_STEP bytes of output (a frame of zero pages can
        expand 1000x): the consumer, and the credit it earns the sender, advance in small steps."""
        while True:
            if self._error is not None:
                raise self._error
            if self._decoder is not None and self._decoder.has_backlog:
                data = await self._decode_step(b"")
                if data:
                    return self._deliver(data)
                continue
            if not self._out:
                if self._ended:
                    self._finish_decoder()
                    return b""
                await self._changed.wait()
                continue
            parts, size = [], 0
            while self._out and size < max_bytes:
                part = self._out.popleft()
                parts.append(part)
                size += len(part)
            self._out_bytes -= size
            self._flow()
            data = b"".join(parts)
            if self._decoder is not None:
                data = await self._decode_step(data)
            if data:
                return self._deliver(data)

    async def _decode_step(self, data: bytes) -> bytes:
        async with self._decode_lock:  # the decoder is not reentrant; decode off the loop
            try:
                return await asyncio.to_thread(self._decode, data)
            except HdeProtocolError as exc:
                self._fail(ChannelError(f"HDE stream corrupt: {exc}"))
                raise self._error from exc  # type: ignore[misc]

    def _deliver(self, data: bytes) -> bytes:
        self.bytes_out += len(data)
        if self._credit and self.bytes_out - self._credited >= CREDIT_STEP:
            self._send_credit()
        return data

    def abort(self, reason: str) -> None:
        """Fail the channel locally and drop its connections."""
        self._fail(ChannelError(reason))

    def peer_names(self) -> set[str]:
        """The subject CNs of the certificates its streams presented (a node's is its node_id)."""
        names = set()
        for t in self._transports.values():
            cert = t.get_extra_info("peercert") or {}
            names |= {v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"}
        return names

    # -- stream side (called by the server's protocols) -----------------------------------------
    def attach(self, idx: int, transport: asyncio.Transport) -> str | None:
        """Add a stream; returns why it is refused, or None."""
        if self._ended or self._error is not None:
            return "channel already finished"
        if idx in self._transports or idx in self.streams_seen:
            return f"stream {idx} already used"
        self._transports[idx] = transport
        self.streams_seen.add(idx)
        self._flow()
        return None

    def on_data(self, idx: int, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            events = self.rx.feed(idx, data)
        except AmstProtocolError as exc:
            self._fail(ChannelError(f"protocol error: {exc}"))
            return
        self._handle(events)
        self._flow()
        self._notify()

    def on_lost(self, idx: int, exc: BaseException | None) -> None:
        self._transports.pop(idx, None)
        self._paused.discard(idx)
        if not self._ended and not self.rx.is_closed(idx) and self._error is None:
            why = f": {exc!r}" if exc else ""
            self._fail(ChannelError(f"stream {idx} closed before the end of the channel{why}"))

    # -- internals -----------------------------------------------------------------------------
    def _handle(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, Data):
                self._out.append(ev.data)
                self._out_bytes += len(ev.data)
            elif isinstance(ev, EndOfChannel):
                self._ended = True
                t = self._transports.get(ev.fin_stream)
                if t is not None:
                    t.write(self.rx.fin_ack(ev.fin_stream))
                for t in self._transports.values():
                    t.close()  # flushes the FIN_ACK first
            elif isinstance(ev, Aborted):
                self._fail(ChannelError(f"sender aborted the channel: {ev.reason}"))
            elif isinstance(ev, StreamClosed):
                log.debug("stream %d retired by the sender", ev.stream)
                t = self._transports.get(ev.stream)
                if t is not None:
                    t.close()

    def _flow(self) -> None:
        for idx, t in self._transports.items():
            want = self.rx.should_read(idx) and self._out_bytes < self._out_limit
            if want and idx in self._paused:
                self._paused.discard(idx)
                t.resume_reading()
            elif not want and idx not in self._paused and not t.is_closing():
                self._paused.add(idx)
                t.pause_reading()

    def _send_credit(self) -> None:
        for idx, t in sorted(self._transports.items()):
            if not t.is_closing():
                t.write(credit(idx, self.bytes_out))
                self._credited = self.bytes_out
                return

    def _decode(self, data: bytes) -> bytes:
        """Runs in a worker thread: touches only the decoder (at most DECODE_STEP bytes out)."""
        assert self._decoder is not None
        return self._decoder.feed(data)

    def _finish_decoder(self) -> None:
        if self._decoder is not None:
            try:
                self._decoder.close()
            except HdeProtocolError as exc:
                self._fail(ChannelError(f"HDE stream incomplete: {exc}"))
                raise self._error from exc  # type: ignore[misc]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail(self, error: ChannelError) -> None:
        if self._error is None:
            self._error = error
            for t in list(self._transports.values()):
                t.abort()
        self._notify()
