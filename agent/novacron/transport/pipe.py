"""TLS pipe: one QEMU migration connection carried over one mutually authenticated TLS connection
per direction, relayed by threads on blocking sockets: raw bytes in the datacenter, HDE frames
(encoded and decoded in the pipe's threads) on slower links.

WHY: on a datacenter link the AMST channel (asyncio TLS, framing, reassembly, CRCs) costs the two
agents several times the CPU that blocking `SSLSocket`s do, on a host whose cores the guest and
QEMU need (decisions.md: tls-pipes). Striping does not pay there: one TCP stream fills the link, and
with multifd QEMU already opens a connection per channel. Confidentiality and authentication are
the AMST channel's: TLS with the cluster CA both ways (unlike the plaintext splice fast path).

Shape: the forward pipe (source -> destination) carries QEMU's bytes unframed (or HDE's own
self-delimiting frames); only the source
writes and only the destination reads it. The return pipe (destination -> source, opened by the
destination) carries QEMU's return-path bytes and DELIVERED reports (pipe_wire.py), which tell the
source's switchover gate how far the destination QEMU has read. One SSL object is never used by
two threads at once: a pipe's reader is one thread, its writers share a lock.

A pipe connection starts with the plaintext PREAMBLE, so the agent's one DWCP port serves both
AMST streams (which start with a TLS ClientHello) and pipes (server.py). The accepting
side's handshake runs on the event loop (pipe_accept.py), not in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

from novacron.dwcp.congestion import Congestion
from novacron.dwcp.hde import HdeProtocolError
from novacron.dwcp.pipe_wire import PREAMBLE, BackParser, Data, encode_data, encode_delivered
from novacron.transport import sockopts
from novacron.transport.handoff import Handoff

log = logging.getLogger(__name__)
BUF = 1 << 20
BATCH = 256 << 10
REPORT_EVERY = 1 << 20  # DELIVERED granularity: the gate works in tens of MB
CLOSE_S = 5.0
# What may wait between a pipe end's coder thread and its writer thread (handoff.py): compressed
# frames at the source, decoded bytes at the destination (both count in the window)
SEND_QUEUE = 2 << 20
DELIVER_QUEUE = 4 << 20
OnError = Callable[[str], None]


def connect_pipe(
    host: str, port: int, ctx: ssl.SSLContext, server_hostname: str, header: bytes, *,
    congestion: Congestion, timeout: float = 10.0, notsent_lowat: int | None = None,
) -> ssl.SSLSocket:  # fmt: skip
    """Connect to a peer agent's DWCP port as a pipe: preamble, TLS handshake, `header` (blocking).
    `congestion`: see dwcp/congestion.py. Its default serves one caller, migration/pipe_relay.py's
    return pipe, which does not pass it yet; every other caller says what it wants."""
    sock = socket.create_connection((host, port), timeout)
    try:
        sockopts.set_nodelay(sock, True)
        sockopts.apply_congestion(sock, congestion)
        if notsent_lowat:
            sockopts.set_notsent_lowat(sock, notsent_lowat)
        sock.sendall(PREAMBLE)
        tls = ctx.wrap_socket(sock, server_hostname=server_hostname, suppress_ragged_eofs=False)
    except BaseException:
        sock.close()
        raise
    tls.sendall(header)
    tls.settimeout(None)
    return tls


def abort(*socks: socket.socket | None) -> None:
    """Break every socket now (wakes threads blocked on them; the peer sees a reset or an EOF)."""
    for s in socks:
        if s is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(s, socket.SHUT_RDWR)


def _close_tls(tls: ssl.SSLSocket) -> None:
    """close_notify, so the reader can tell the end of the stream from a cut connection."""
    tls.settimeout(CLOSE_S)
    with contextlib.suppress(OSError, ValueError):
        tls.unwrap()
    tls.close()


class _Pipe:
    """The threads of one pipe end and its shared failure handling: the first error breaks every
    socket of the pipe (so QEMU fails the migration at once) and is reported once."""

    def __init__(self, name: str, on_error: OnError) -> None:
        self.name = name
        self.error: str | None = None
        self._on_error = on_error
        self._socks: list[socket.socket] = []
        self._handoffs: list[Handoff] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._running = 0
        self._finished = False  # every thread has ended and the sockets are closed

    def _spawn(self, target: Callable[[], None], what: str) -> bool:
        """Start a thread; False (nothing started) once the pipe has failed or finished."""
        t = threading.Thread(target=self._guard, args=(target, what), name=f"{self.name}-{what}", daemon=True)
        with self._lock:
            if self._finished or self.error is not None:
                return False
            self._running += 1
        self._threads.append(t)
        t.start()
        return True

    def _guard(self, target: Callable[[], None], what: str) -> None:
        try:
            target()
        except (OSError, ValueError, HdeProtocolError) as exc:  # SSLError is an OSError; ValueError: socket closed
            self._fail(f"{what}: {exc}")
        finally:
            self._release()

    def _release(self) -> None:
        """One thread (or the constructor's hold) less; the last one out closes the sockets."""
        with self._lock:
            self._running -= 1
            last = self._finished = self._running == 0
        if last:  # nothing reads or writes these sockets any more
            for s in self._socks:
                s.close()
            self._drop_coders()

    def _drop_coders(self) -> None:
        """Free an HDE end's dictionary (~1 GiB for a large guest) now that no thread uses it:
        whoever still holds the pipe (the relay, a reference cycle awaiting a full collection)
        must not keep it (decisions.md: migration-memory-release)."""
        self._handoffs.clear()  # frames still queued after a failure point at the encoder

    def _fail(self, why: str) -> None:
        with self._lock:
            first = self.error is None
            if first:
                self.error = why
        abort(*self._socks)
        for h in self._handoffs:
            h.fail(why)
        if first:
            self._on_error(why)

    def abort(self) -> None:
        with self._lock:
            self.error = self.error or "aborted"
        abort(*self._socks)
        for h in self._handoffs:
            h.fail(self.error)

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)


class SourcePipe(_Pipe):
    """Source end: QEMU -> forward pipe in one thread; the return pipe (attached when the
    destination opens it) -> QEMU in another, taking DELIVERED reports on the way.

    With an `encoder` (HdeEncoder) the forward pipe carries HDE frames; what the encoder buffers
    goes out whenever QEMU has nothing more to read at once. Then `window` bounds the decoded
    bytes between QEMU's reads here and the destination QEMU's (DELIVERED): one compressed MiB
    of page deltas is tens of MiB to decode, and what is still owed when QEMU stops the guest is
    downtime. Until the first report arrives, nothing counts as delivered. The encoder runs in one
    thread and a sender in another (handoff.py); an encoder made with `seal_later=True` leaves
    each frame's compression to the sender, so the two share the work as well as overlap it."""

    def __init__(
        self, name: str, qemu: socket.socket, forward: ssl.SSLSocket, on_error: OnError, *,
        encoder: Any = None, window: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name, on_error)
        self.qemu, self.forward, self.encoder, self.window = qemu, forward, encoder, window
        self.back: ssl.SSLSocket | None = None
        self.sent = 0  # QEMU's bytes taken
        self.wire = 0  # bytes written to the forward pipe (HDE frames, or QEMU's bytes as they are)
        self._credit = threading.Condition()
        self.delivered: int | None = None  # None until the return pipe reports
        self._socks += [qemu, forward]
        self._frames: Handoff | None = None
        if encoder is not None:  # the encoder and the sender overlap (handoff.py)
            self._frames = Handoff(SEND_QUEUE)
            self._handoffs.append(self._frames)
            self._running = 1  # a hold while starting: the first thread must not finish the pipe alone
            self._spawn(self._pump_forward, "encode")
            self._spawn(self._pump_send, "send")
            self._release()
        else:
            self._spawn(self._pump_forward, "forward")

    def _drop_coders(self) -> None:
        super()._drop_coders()
        self.encoder = self._frames = None

    def attach_back(self, back: ssl.SSLSocket) -> None:
        self.back = back
        self._socks.append(back)
        if not self._spawn(self._pump_back, "return"):  # too late: this end failed or is done
            abort(back)
            back.close()

    def _pump_forward(self) -> None:
        buf = bytearray(BUF)
        view = memoryview(buf)
        qemu, forward, enc = self.qemu, self.forward, self.encoder
        if enc is None:
            while n := qemu.recv_into(buf):
                forward.sendall(view[:n])
                self.sent += n
                self.wire += n
            _close_tls(forward)
            return
        frames = self._frames
        assert frames is not None
        waiting = select.poll()
        waiting.register(qemu.fileno(), select.POLLIN)
        while True:
            self._wait_for_credit()
            n = qemu.recv_into(buf)
            if not n:
                break
            self.sent += n
            out = enc.encode(view[:n])
            if not waiting.poll(0):  # QEMU paused (end of a pass, or the switch-over): no lingering
                out += enc.flush()
            for frame in out:
                frames.put(frame)
        for frame in enc.flush():
            frames.put(frame)
        frames.close()

    def _pump_send(self) -> None:
        frames, forward = self._frames, self.forward
        assert frames is not None
        while (batch := frames.take()) is not None:
            for frame in batch:  # an encoder made with seal_later=True leaves compression to us
                data = frame if isinstance(frame, bytes) else frame.seal()
                forward.sendall(data)
                self.wire += len(data)
        _close_tls(forward)

    def _wait_for_credit(self) -> None:
        if self.window is None:
            return
        with self._credit:
            while self.error is None and self.sent - (self.delivered or 0) >= self.window:
                self._credit.wait(0.5)
        if self.error is not None:
            raise ValueError(f"pipe failed: {self.error}")

    def _delivered(self, total: int) -> None:
        with self._credit:
            self.delivered = total
            self._credit.notify_all()

    def _pump_back(self) -> None:
        assert self.back is not None
        buf = bytearray(BUF)
        parser = BackParser()
        while n := self.back.recv_into(buf):
            for rec in parser.feed(memoryview(buf)[:n]):
                if isinstance(rec, Data):
                    self.qemu.sendall(rec.payload)
                else:
                    self._delivered(rec.total)
        if parser.partial:
            raise ValueError("the return pipe ended inside a record")
        with contextlib.suppress(OSError):
            self.qemu.shutdown(socket.SHUT_WR)


class DestPipe(_Pipe):
    """Destination end: forward pipe -> QEMU (reporting DELIVERED every REPORT_EVERY bytes) and
    QEMU's return path -> return pipe, in two threads that share the return pipe's lock. With a
    `decoder` (HdeDecoder) the forward pipe's HDE frames are decoded first; DELIVERED counts
    decoded bytes, the source's unit.

    The return pipe may be attached later (attach_back): QEMU's bytes flow at once. With multifd
    the destination QEMU accepts its next channel only once the one before has sent its first
    bytes, so waiting for each return pipe's handshake (an RTT or two) before delivering would
    hold the channels back one after another (decisions.md: pipe-deliver-before-return).
    Reports made before the return pipe exists are dropped (the next one carries the total);
    QEMU's return path and the final report wait for it."""

    def __init__(
        self, name: str, forward: ssl.SSLSocket, qemu: socket.socket, back: ssl.SSLSocket | None, on_error: OnError,
        *, decoder: Any = None, first: bytes = b"",
    ) -> None:  # fmt: skip
        super().__init__(name, on_error)
        self.forward, self.qemu, self.back, self.decoder = forward, qemu, None, decoder
        self._first = first  # read off the forward pipe before this end started (pipe_relay.py)
        self.delivered = 0
        self._write_lock = threading.Condition()
        self._writers_left = 2
        self._socks += [forward, qemu]
        self._decoded: Handoff | None = None
        self._running = 1  # a hold while starting: the first thread must not finish the pipe alone
        if decoder is not None:  # the decoder and the QEMU writer overlap (handoff.py)
            self._decoded = Handoff(DELIVER_QUEUE)
            self._handoffs.append(self._decoded)
            self._spawn(self._pump_decode, "decode")
            self._spawn(self._pump_deliver, "deliver")
        else:
            self._spawn(self._pump_forward, "forward")
        if back is not None:
            self.attach_back(back)
        self._release()

    def attach_back(self, back: ssl.SSLSocket) -> None:
        """The return pipe, once its handshake is done: QEMU's return path starts."""
        with self._write_lock:
            self.back = back
            self._socks.append(back)
            self._write_lock.notify_all()
        if not self._spawn(self._pump_back, "return"):  # too late: this end failed or is done
            abort(back)
            back.close()

    def _drop_coders(self) -> None:
        super()._drop_coders()
        self.decoder = self._decoded = None

    def _send_back(self, data: bytes, *, droppable: bool = False) -> None:
        with self._write_lock:
            while self.back is None:
                if droppable:
                    return
                if self.error is not None:
                    raise ValueError(f"pipe failed: {self.error}")
                self._write_lock.wait(0.5)
            self.back.sendall(data)

    def _writer_done(self) -> None:
        with self._write_lock:
            self._writers_left -= 1
            last = self._writers_left == 0
        if last and self.back is not None:
            _close_tls(self.back)

    def _batches(self) -> Iterator[memoryview]:
        """The forward pipe's bytes as they arrive. One TLS record (16 KiB) per read: gather what
        has already arrived (up to BATCH), so the next step runs once per batch, not per record.
        The view is valid until the next one is asked for."""
        if self._first:
            yield memoryview(self._first)
            self._first = b""
        buf = bytearray(BUF)
        view = memoryview(buf)
        forward = self.forward
        waiting = select.poll()
        waiting.register(forward.fileno(), select.POLLIN)
        while n := forward.recv_into(buf):
            while n < BATCH and (forward.pending() or waiting.poll(0)):
                got = forward.recv_into(view[n:])
                if not got:
                    break
                n += got
            yield view[:n]

    def _pump_forward(self) -> None:
        """Raw bytes: forward pipe -> QEMU in one thread (nothing to overlap but copies)."""
        self._deliver(self._batches())

    def _pump_decode(self) -> None:
        dec, decoded = self.decoder, self._decoded
        assert decoded is not None
        for chunk in self._batches():
            decoded.put(dec.feed(chunk))
            while dec.has_backlog:
                decoded.put(dec.feed(b""))
        dec.close()  # raises (and so fails the pipe) if the stream was cut inside a frame
        decoded.close()

    def _pump_deliver(self) -> None:
        decoded = self._decoded
        assert decoded is not None

        def taken() -> Iterator[bytes]:
            while (batch := decoded.take()) is not None:
                yield from batch

        self._deliver(taken())

    def _deliver(self, chunks: Iterator[bytes | memoryview]) -> None:
        """Write to QEMU, reporting DELIVERED every REPORT_EVERY bytes and once at the end."""
        qemu, reported = self.qemu, 0
        for chunk in chunks:
            qemu.sendall(chunk)
            self.delivered += len(chunk)
            if self.delivered - reported >= REPORT_EVERY:
                reported = self.delivered
                self._send_back(encode_delivered(reported), droppable=True)
        self._send_back(encode_delivered(self.delivered))
        with contextlib.suppress(OSError):
            qemu.shutdown(socket.SHUT_WR)
        self.forward.close()
        self._writer_done()

    def _pump_back(self) -> None:
        buf = bytearray(BUF)
        view = memoryview(buf)
        while n := self.qemu.recv_into(buf):
            self._send_back(encode_data(view[:n]))
        self._writer_done()
