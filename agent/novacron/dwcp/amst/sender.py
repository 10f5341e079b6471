"""AMST sender core: cut the outgoing byte stream into segments and stripe them over streams.

Sans-I/O: send() returns (stream index, frame bytes) pairs for the adapter to write; the adapter
reports with on_written() when a frame has left its queue for the kernel. Outstanding bytes per
stream are the scheduler's load signal (least loaded wins, round-robin among equals so an idle
loopback still spreads) and their sum is the send window behind can_send.
"""

from __future__ import annotations

from novacron.dwcp.amst.frames import FrameType, encode_frame
from novacron_sdk.errors import InvalidInput

MIN_SEGMENT = 64 << 10
MAX_SEGMENT = 1 << 20


class AmstSender:
    def __init__(
        self,
        *,
        streams: int = 1,
        channel: int = 0,
        segment_size: int = 256 << 10,
        window_bytes: int = 64 << 20,
        max_streams: int = 512,
        min_segment: int = MIN_SEGMENT,
    ) -> None:
        if not 1 <= max_streams <= 4096:
            raise InvalidInput(f"must be 1..4096, not {max_streams}", field="max_streams")
        if not 1 <= streams <= max_streams:
            raise InvalidInput(f"must be 1..max_streams ({max_streams}), not {streams}", field="streams")
        if window_bytes < MAX_SEGMENT:
            raise InvalidInput(f"must be at least {MAX_SEGMENT}, not {window_bytes}", field="window_bytes")
        self.channel = channel
        self.max_streams = max_streams
        self.window_bytes = window_bytes
        if not 1 <= min_segment <= MAX_SEGMENT:
            raise InvalidInput(f"must be 1..{MAX_SEGMENT}, not {min_segment}", field="min_segment")
        self.min_segment = min_segment
        self.segment_size = min_segment
        self.set_segment_size(segment_size)
        self.active: list[int] = list(range(streams))
        self.outstanding: dict[int, int] = dict.fromkeys(self.active, 0)
        self.next_seq = 0
        self.bytes_sent = 0
        self.closed = False
        self._rr = 0
        self._next_index = streams

    @property
    def total_outstanding(self) -> int:
        return sum(self.outstanding.values())

    @property
    def can_send(self) -> bool:
        """False while the adapter's queues hold a full window: stop reading the source."""
        return not self.closed and self.total_outstanding < self.window_bytes

    def set_segment_size(self, size: int) -> None:
        """Clamped to min_segment..1 MiB; bigger segments cost less per byte, smaller ones balance
        streams better and bound reorder memory. Takes effect on the next send()."""
        self.segment_size = max(self.min_segment, min(MAX_SEGMENT, int(size)))

    def send(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        if self.closed:
            raise RuntimeError("AmstSender.send after close(): the channel is finished")
        out: list[tuple[int, bytes]] = []
        view = memoryview(data)
        seg = self.segment_size
        for pos in range(0, len(view), seg):
            payload = view[pos : pos + seg]
            stream = self._pick()
            frame = encode_frame(
                FrameType.DATA, stream=stream, channel=self.channel, seq=self.next_seq, payload=payload
            )
            self.next_seq += 1
            self.bytes_sent += len(payload)
            self.outstanding[stream] += len(frame)
            out.append((stream, frame))
        return out

    def on_written(self, stream: int, nbytes: int) -> None:
        left = self.outstanding.get(stream, 0) - nbytes
        if left < 0:
            raise InvalidInput(
                f"stream {stream} reported {nbytes} bytes written, more than outstanding", field="nbytes"
            )
        if left == 0 and stream not in self.active:
            self.outstanding.pop(stream, None)
        else:
            self.outstanding[stream] = left

    def add_stream(self) -> int:
        """A fresh index (never reused within a channel, so a retired stream's late bytes can't be
        mistaken for a new one's); the adapter connects, says HELLO, then calls activate()."""
        if len(self.active) >= self.max_streams or self._next_index > 0xFFFF:
            raise InvalidInput(
                f"channel already has {len(self.active)} of {self.max_streams} streams", field="streams"
            )
        idx = self._next_index
        self._next_index += 1
        return idx

    def activate(self, stream: int) -> None:
        if not 0 <= stream <= 0xFFFF:
            raise InvalidInput(f"stream index must be 0..65535, not {stream}", field="stream")
        self._next_index = max(self._next_index, stream + 1)
        if stream not in self.active:
            self.active.append(stream)
            self.active.sort()
            self.outstanding.setdefault(stream, 0)

    def retire_stream(self, stream: int | None = None) -> tuple[int, bytes]:
        """Stop scheduling on `stream` (default: highest index); returns its STREAM_CLOSE frame."""
        if len(self.active) <= 1:
            raise InvalidInput("cannot retire the last stream of a channel", field="streams")
        idx = self.active[-1] if stream is None else stream
        if idx not in self.active:
            raise InvalidInput(f"stream {idx} is not active", field="stream")
        self.active.remove(idx)
        frame = encode_frame(FrameType.STREAM_CLOSE, stream=idx, channel=self.channel)
        self.outstanding[idx] = self.outstanding.get(idx, 0) + len(frame)
        return idx, frame

    def close(self) -> tuple[int, bytes]:
        """End of channel: a FIN with the segment count and total length, on the least loaded stream."""
        if self.closed:
            raise RuntimeError("AmstSender.close called twice")
        stream = self._pick()
        self.closed = True
        frame = encode_frame(
            FrameType.FIN,
            stream=stream,
            channel=self.channel,
            seq=self.next_seq,
            payload=self.bytes_sent.to_bytes(8, "big"),
        )
        self.outstanding[stream] += len(frame)
        return stream, frame

    def abort(self, reason: str) -> list[tuple[int, bytes]]:
        self.closed = True
        payload = reason.encode("utf-8", "replace")[:4096]
        return [
            (s, encode_frame(FrameType.ABORT, stream=s, channel=self.channel, payload=payload))
            for s in self.active
        ]

    def _pick(self) -> int:
        active = self.active
        n = 0x10000
        rr = self._rr
        best = min(active, key=lambda s: (self.outstanding[s], (s - rr) % n))
        self._rr = best + 1
        return best
