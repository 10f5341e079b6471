"""A destination pipe end whose return pipe comes later (transport/pipe.py DestPipe.attach_back):
QEMU's bytes must not wait for the return pipe's handshake."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from typing import Any

from novacron.dwcp.pipe_wire import BackParser, Data, Delivered
from novacron.transport.pipe import DestPipe, connect_pipe
from tests.tooling.wait import until, waits_on
from tests.unit.dwcp.conftest import Pki
from tests.unit.dwcp.test_pipe import MIB, Ends, _drain


def test_the_destination_delivers_before_its_return_pipe_opens(pki: Pki) -> None:
    """With multifd the destination QEMU accepts its next channel only after this one's first
    bytes: they must not wait for the return pipe's handshake. Bytes read off the pipe before the
    end started (`first`) go first; reports made without a return pipe are dropped, the final one
    and QEMU's return path wait for it. The test plays the source agent itself."""
    ends = Ends(pki)
    port = ends.dst_listen.getsockname()[1]
    box: dict[str, Any] = {}

    def destination() -> None:
        fwd = ends._accept_pipe(ends.dst_listen)
        first = fwd.recv(5)  # what pipe_relay reads while it waits for a pipe's first bytes
        qemu = socket.create_connection(ends.qemu_dst_listen.getsockname())
        box["dest"] = DestPipe("t", fwd, qemu, None, ends.errors.append, first=first)

    t = threading.Thread(target=destination)
    t.start()
    fwd = connect_pipe("127.0.0.1", port, ends.client_tls, "localhost", b"h", congestion="cubic")
    payload = b"first" + os.urandom(8 * MIB)
    fwd.sendall(payload[:5])
    qemu_dst, _ = ends.qemu_dst_listen.accept()
    t.join(10)
    dst: DestPipe = box["dest"]
    received: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(qemu_dst, received))
    drain.start()
    fwd.sendall(payload[5:])
    fwd.settimeout(1)
    with contextlib.suppress(OSError):  # close_notify out; the peer answers only at its end
        fwd.unwrap()
    until("every byte delivered", lambda: dst.delivered >= len(payload), timeout=20)
    assert dst.delivered == len(payload) and dst.back is None  # all delivered, no return pipe yet
    qemu_dst.sendall(b"reply")  # QEMU's return path waits in its socket
    accepted: list[ssl.SSLSocket] = []
    accepting = threading.Thread(target=lambda: accepted.append(ends._accept_pipe(ends.src_listen)))
    accepting.start()
    back_port = ends.src_listen.getsockname()[1]
    dst.attach_back(connect_pipe("127.0.0.1", back_port, ends.client_tls, "localhost", b"h", congestion="cubic"))
    accepting.join(10)
    drain.join(20)
    qemu_dst.close()  # QEMU's return path ends: the return pipe closes cleanly
    back, records = accepted[0], []
    back.settimeout(10)
    parser = BackParser()
    while chunk := back.recv(MIB):
        records += parser.feed(chunk)
    back.close()
    fwd.close()
    dst.join(10)
    assert b"".join(received) == payload
    assert [r for r in records if isinstance(r, Data)] == [Data(b"reply")]
    # reports made before the return pipe existed were dropped; the final one waited for it
    assert [r for r in records if isinstance(r, Delivered)] == [Delivered(len(payload))]
    assert ends.errors == [] and dst.error is None


def test_a_destination_end_without_return_pipe_still_fails_cleanly(pki: Pki) -> None:
    """The return pipe never comes (its dial failed): aborting the end wakes the writer that
    waits for it to send the final report."""
    ends = Ends(pki)
    port = ends.dst_listen.getsockname()[1]
    box: dict[str, Any] = {}

    def destination() -> None:
        fwd = ends._accept_pipe(ends.dst_listen)
        box["dest"] = DestPipe("t", fwd, socket.create_connection(ends.qemu_dst_listen.getsockname()), None,
                               ends.errors.append)  # fmt: skip

    t = threading.Thread(target=destination)
    t.start()
    fwd = connect_pipe("127.0.0.1", port, ends.client_tls, "localhost", b"h", congestion="cubic")
    qemu_dst, _ = ends.qemu_dst_listen.accept()
    t.join(10)
    dst: DestPipe = box["dest"]
    blocked = waits_on(dst._write_lock)
    fwd.sendall(b"some bytes")
    fwd.settimeout(1)
    with contextlib.suppress(OSError):  # close_notify out; the peer does not answer it
        fwd.unwrap()  # the source ended cleanly: the writer now waits to send its final report
    assert qemu_dst.recv(100) == b"some bytes"
    assert blocked.wait(10)  # the writer waits for a return pipe
    assert any(th.is_alive() for th in dst._threads)
    dst.abort()
    dst.join(10)
    assert not any(th.is_alive() for th in dst._threads)
    assert dst.error is not None
    qemu_dst.close()
    fwd.close()
