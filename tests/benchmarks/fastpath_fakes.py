"""Fake QEMUs for the fast-path tests: a sender of stamped random bytes that checks the return path,
and a receiver that hashes what arrives and answers with the digest (or resets mid-stream)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
import threading

MIB = 1 << 20
LOCAL = "127.0.0.1"


class QemuSource(threading.Thread):
    """Source QEMU: connects to the source agent, sends `total` stamped random bytes, half-closes,
    then reads the return path (the destination QEMU's reply) until EOF."""

    def __init__(
        self, addr: tuple[str, int], total: int, seed: int, *, stall_after: int | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.addr, self.total, self.seed, self.stall_after = addr, total, seed, stall_after
        self.digest = hashlib.sha256()
        self.back = b""
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        block = bytearray(random.Random(self.seed).randbytes(MIB))
        try:
            with socket.create_connection(self.addr) as s:
                for i in range(0, self.total, MIB):
                    if self.stall_after is not None and i >= self.stall_after:
                        break
                    block[:12] = struct.pack(">IQ", self.seed, i)  # misordered chunks change the hash
                    piece = bytes(block[: min(MIB, self.total - i)])
                    s.sendall(piece)
                    self.digest.update(piece)
                if self.stall_after is None:
                    s.shutdown(socket.SHUT_WR)
                while data := s.recv(65536):
                    self.back += data
        except OSError as exc:
            self.error = exc


class QemuDest(threading.Thread):
    """Destination QEMU: accepts `conns` connections; each is read to EOF and answered with the
    SHA-256 of what arrived (so the source checks bit-exactness and the return path at once).
    reset_after: reset the connection after that many bytes instead."""

    def __init__(self, conns: int, *, reset_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server((LOCAL, 0))
        self.addr = self.listener.getsockname()
        self.conns, self.reset_after = conns, reset_after
        self.received: list[tuple[int, str]] = []
        self.errors: list[BaseException] = []
        self._workers: list[threading.Thread] = []
        self.start()

    def run(self) -> None:
        with self.listener:
            for _ in range(self.conns):
                conn, _ = self.listener.accept()
                t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                t.start()
                self._workers.append(t)
        for t in self._workers:
            t.join()

    def _serve(self, conn: socket.socket) -> None:
        h, n, buf = hashlib.sha256(), 0, bytearray(MIB)
        try:
            with conn:
                while k := conn.recv_into(buf):
                    h.update(memoryview(buf)[:k])
                    n += k
                    if self.reset_after is not None and n >= self.reset_after:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
                conn.sendall(b"ACK " + h.hexdigest().encode())
                self.received.append((n, h.hexdigest()))
        except OSError as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        """Unblock accept() if fewer connections came than expected, then wait for the thread."""
        if self.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(self.addr, timeout=1).close()
        self.join(10)


async def accept_qemu(listener: socket.socket) -> socket.socket:
    conn, _ = await asyncio.get_running_loop().sock_accept(listener)
    return conn


def qemu_listener() -> socket.socket:
    s = socket.create_server((LOCAL, 0))
    s.setblocking(False)
    return s
