"""Kernel zero-copy relay between two connected TCP sockets: os.splice socket -> pipe -> socket,
one thread per direction, owning both sockets until the relay ends.

WHY threads with blocking splice: each call moves up to a pipe's worth (1 MiB) with the GIL released,
so Python costs one call per MiB and the bytes never enter user space. Dedicated threads, not
asyncio's default executor, whose few workers would starve with multifd's 2 x (N+1) pumps.
WHY SO_RCVTIMEO/SO_SNDTIMEO ticks: splice honours them (EAGAIN), so a blocked pump wakes every
TICK_S to notice an abort or an idle timeout; the relay can never hang.
WHY an abort sends no FIN: a FIN would look like a clean end of QEMU's stream to the far agent.
abort() only shuts the *read* side (wakes local readers, sends nothing), and once both pumps have
stopped the sockets are closed with SO_LINGER 0, i.e. reset, so every party sees an error.
A clean end: each direction forwards EOF as shutdown(SHUT_WR); the relay is done when both have.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK_S = 0.25
PIPE_MAX_SIZE = Path("/proc/sys/fs/pipe-max-size")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class _Stopped(Exception):
    """A pump noticed the relay was aborted (by the other pump, the owner, or the idle timer)."""


def pipe_max_size() -> int:
    try:
        return int(PIPE_MAX_SIZE.read_text())
    except (OSError, ValueError):
        return 1 << 20


def make_pipe(size: int) -> tuple[int, int]:
    """A close-on-exec pipe grown to `size` (capped at the system maximum); the larger the pipe,
    the more bytes each splice call moves."""
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # EPERM past the per-user pipe quota: keep the default
        fcntl.fcntl(w, F_SETPIPE_SZ, max(4096, min(size, pipe_max_size())))
    return r, w


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1e6))


class _Direction:
    def __init__(self, name: str, src: socket.socket, dst: socket.socket) -> None:
        self.name, self.src, self.dst = name, src, dst
        self.bytes = 0
        self.eof = False
        self.pipe: tuple[int, int] | None = None
        self.thread: threading.Thread | None = None


class SpliceRelay:
    """Relays left -> right ("forward") and right -> left ("back") until both reach EOF, an error,
    abort() or `idle_timeout` seconds without a byte moving either way. Call start() once; on_done
    is called (from a relay thread) after both sockets are closed. `error` is None on a clean end."""

    def __init__(
        self,
        left: socket.socket,
        right: socket.socket,
        *,
        idle_timeout: float = 60.0,
        pipe_size: int = 1 << 20,
        name: str = "fastpath",
        on_done: Callable[[], None] | None = None,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self.name = name
        self.idle_timeout = idle_timeout
        self.pipe_size = pipe_size
        self.on_done = on_done
        self.error: str | None = None
        self.started: float | None = None
        self.ended: float | None = None
        self._socks = (left, right)
        self._dirs = (_Direction("forward", left, right), _Direction("back", right, left))
        self._lock = threading.Lock()
        self._stop = False
        self._closed = False
        self._running = 0
        self._last = time.monotonic()

    # -- owner's side ---------------------------------------------------------------------------
    @property
    def bytes_forward(self) -> int:
        return self._dirs[0].bytes

    @property
    def bytes_back(self) -> int:
        return self._dirs[1].bytes

    @property
    def done(self) -> bool:
        return self.ended is not None

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def start(self) -> None:
        """Spawn the two pumps. If this raises (no fds for pipes), the sockets are already closed."""
        if self.started is not None:
            raise RuntimeError("relay already started")
        self.started = self._last = time.monotonic()
        try:
            for s in self._socks:
                s.setblocking(True)  # blocking fd: splice waits in the kernel, bounded by the ticks
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(TICK_S))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(TICK_S))
            for d in self._dirs:
                d.pipe = make_pipe(self.pipe_size)
        except OSError as exc:
            self.error = f"cannot set up the relay: {exc}"
            self._running = 1
            self._thread_done()
            raise
        self._running = len(self._dirs)
        for d in self._dirs:
            d.thread = threading.Thread(
                target=self._pump, args=(d,), name=f"{self.name}-{d.name}", daemon=True
            )
            d.thread.start()

    def abort(self, reason: str) -> None:
        """Stop both pumps; the first reason given becomes `error`. Safe from any thread, any time."""
        with self._lock:
            if self.error is None and not all(d.eof for d in self._dirs):  # else it already ended well
                self.error = reason
            self._stop = True
            if self._closed:
                return
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RD)  # wakes a blocked splice read, sends nothing

    def join(self, timeout: float | None = None) -> None:
        for d in self._dirs:
            if d.thread is not None:
                d.thread.join(timeout)

    # -- pumps ----------------------------------------------------------------------------------
    def _pump(self, d: _Direction) -> None:
        assert d.pipe is not None
        r, w = d.pipe
        src, dst = d.src.fileno(), d.dst.fileno()
        try:
            while True:
                n = self._fill(src, w)
                if n == 0:
                    if self._stop:
                        return
                    d.eof = True
                    with contextlib.suppress(OSError):  # the receiver may already be gone
                        d.dst.shutdown(socket.SHUT_WR)
                    return
                while n:
                    m = self._drain(r, dst, n)
                    n -= m
                    d.bytes += m
                    self._last = time.monotonic()
        except _Stopped:
            pass
        except OSError as exc:
            side = "reading" if exc.filename == "read" else "writing"
            self.abort(f"{d.name} direction failed {side}: {exc.strerror or exc}")
        finally:
            self._thread_done()

    def _fill(self, src: int, pipe_w: int) -> int:
        while True:
            self._check()
            try:
                return os.splice(src, pipe_w, self.pipe_size, flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # a tick of SO_RCVTIMEO without data
                self._check_idle()
            except OSError as exc:
                exc.filename = "read"
                raise

    def _drain(self, pipe_r: int, dst: int, n: int) -> int:
        while True:
            self._check()
            try:
                return os.splice(pipe_r, dst, n, flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # a tick of SO_SNDTIMEO with the receiver's window full
                self._check_idle()

    def _check(self) -> None:
        if self._stop:
            raise _Stopped

    def _check_idle(self) -> None:
        if time.monotonic() - self._last > self.idle_timeout:
            self.abort(f"idle: no byte moved either way for {self.idle_timeout:g} s")
        self._check()

    def _thread_done(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running:
                return
            self._closed = True
            for d in self._dirs:
                for fd in d.pipe or ():
                    os.close(fd)
                d.pipe = None
            for s in self._socks:
                if self.error is not None:  # reset, not FIN: the far ends must see a failure
                    with contextlib.suppress(OSError):
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            self.ended = time.monotonic()
        if self.on_done is not None:
            self.on_done()
