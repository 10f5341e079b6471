"""TLS pipes (transport/pipe.py): the return direction's codec, the listener that tells pipes from
AMST streams on one port, and two pipe ends over real loopback TLS with real sockets for QEMU."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
import weakref
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from novacron.dwcp.admission import Limits
from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.dwcp.pipe_wire import (
    MAX_DATA,
    PREAMBLE,
    BackParser,
    Data,
    Delivered,
    PipeProtocolError,
    encode_data,
    encode_delivered,
)
from novacron.migration.listener import MigrationListener
from novacron.transport import ChannelServer, make_tls_contexts, open_channel, sockopts
from novacron.transport.pipe import BUF, DestPipe, SourcePipe, connect_pipe
from novacron.transport.pipe_accept import accept_pipe
from tests.tooling.wait import until_async, until_steady
from tests.unit.dwcp.conftest import Pki

MIB = 1 << 20


def accept_blocking(sock: socket.socket, ctx: ssl.SSLContext, timeout: float = 10.0) -> ssl.SSLSocket:
    """The server side of connect_pipe for tests that play an agent in a thread (no event loop)."""
    sock.settimeout(timeout)
    return ctx.wrap_socket(sock, server_side=True, suppress_ragged_eofs=False)


# -- the return direction's records ---------------------------------------------------------------
@given(
    st.lists(st.one_of(st.binary(min_size=1, max_size=3000).map(Data), st.integers(0, 1 << 40).map(Delivered))),
    st.lists(st.integers(1, 500), max_size=50),
)
def test_records_survive_any_split(records: list[Data | Delivered], cuts: list[int]) -> None:
    total, wire, expected = 0, b"", []
    for r in records:
        if isinstance(r, Data):
            wire += encode_data(r.payload)
            expected.append(r)
        else:
            total += r.total  # DELIVERED only grows
            wire += encode_delivered(total)
            expected.append(Delivered(total))
    parser, got, pos = BackParser(), [], 0
    for cut in [*cuts, len(wire)]:
        got += parser.feed(wire[pos : pos + cut])
        pos += cut
    got += parser.feed(wire[pos:])
    assert got == expected and not parser.partial


@pytest.mark.parametrize(
    ("wire", "field"),
    [
        (bytes([9]) + (0).to_bytes(8, "big"), "type"),
        (bytes([1]) + (0).to_bytes(8, "big"), "value"),
        (bytes([1]) + (MAX_DATA + 1).to_bytes(8, "big"), "value"),
        (encode_delivered(10) + encode_delivered(9), "value"),
    ],
)
def test_bad_records_name_the_field(wire: bytes, field: str) -> None:
    with pytest.raises(PipeProtocolError) as err:
        BackParser().feed(wire)
    assert err.value.field == field


def test_a_cut_record_is_partial_and_bad_payloads_are_refused() -> None:
    parser = BackParser()
    assert parser.feed(encode_data(b"abc")[:5]) == [] and parser.partial
    for bad in (b"", b"x" * (MAX_DATA + 1)):
        with pytest.raises(PipeProtocolError):
            encode_data(bad)
    with pytest.raises(PipeProtocolError):
        encode_delivered(-1)


# -- one port, two kinds of connection ------------------------------------------------------------
def test_listener_hands_pipes_over_and_still_serves_amst_streams(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    client_tls = make_tls_contexts(pki.ca, pki.client_cert, pki.client_key).client
    handed: list[socket.socket] = []

    async def take(sock: socket.socket) -> None:
        handed.append(sock)

    async def main() -> tuple[bytes, bytes]:
        async with ChannelServer(ssl=server_tls, pipe_handler=take) as srv:
            ch = await open_channel(
                "127.0.0.1", srv.port, streams=2, ssl=client_tls, server_hostname="localhost", congestion="adaptive"
            )
            reader = await srv.accept()
            await ch.write(b"amst bytes")
            await ch.close()
            amst = b"".join([d async for d in reader])
            # a pipe whose preamble arrives in two pieces, then TLS
            raw = socket.create_connection(("127.0.0.1", srv.port))
            raw.sendall(PREAMBLE[:2])
            await asyncio.sleep(0.05)  # pacing under test: the preamble's second piece comes later
            raw.sendall(PREAMBLE[2:] + b"rest")
            await until_async("the pipe to be handed over", lambda: handed)
            handed[0].setblocking(True)
            after = handed[0].recv(100)
            raw.close()
            return amst, after

    amst, after = asyncio.run(main())
    assert amst == b"amst bytes"
    assert after == b"rest"  # the preamble is consumed, nothing else


def test_listener_drops_a_silent_connection(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    handed: list[socket.socket] = []

    async def take(sock: socket.socket) -> None:
        handed.append(sock)

    async def main() -> bytes:
        async with ChannelServer(ssl=server_tls, pipe_handler=take, limits=Limits(deadline_s=0.3)) as srv:
            raw = socket.create_connection(("127.0.0.1", srv.port))
            raw.settimeout(5)
            got = await asyncio.to_thread(raw.recv, 10)
            raw.close()
            return got

    assert asyncio.run(main()) == b"" and handed == []


# -- two pipe ends over loopback TLS ---------------------------------------------------------------
class Ends:
    """Source QEMU socket pair, destination QEMU listener, a pipe listener on each agent side."""

    def __init__(self, pki: Pki) -> None:
        self.server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
        self.client_tls = make_tls_contexts(pki.ca, pki.client_cert, pki.client_key).client
        self.qemu_src, self.agent_src = socket.socketpair()
        self.qemu_dst_listen = socket.create_server(("127.0.0.1", 0))
        self.dst_listen = socket.create_server(("127.0.0.1", 0))
        self.src_listen = socket.create_server(("127.0.0.1", 0))
        self.errors: list[str] = []

    def _accept_pipe(self, lsock: socket.socket) -> ssl.SSLSocket:
        sock, _ = lsock.accept()
        assert sock.recv(len(PREAMBLE), socket.MSG_WAITALL) == PREAMBLE
        tls = accept_blocking(sock, self.server_tls)
        assert tls.recv(1) == b"h"  # the one-byte header these tests send
        tls.settimeout(None)
        return tls

    def start(self, **hde: Any) -> tuple[SourcePipe, DestPipe, socket.socket]:
        """hde: encoder=, decoder=, window= for an HDE pipe."""
        port = self.dst_listen.getsockname()[1]
        box: dict[str, object] = {}

        def destination() -> None:
            fwd = self._accept_pipe(self.dst_listen)
            qemu = socket.create_connection(self.qemu_dst_listen.getsockname())
            back = connect_pipe(
                "127.0.0.1", self.src_listen.getsockname()[1], self.client_tls, "localhost", b"h", congestion="cubic"
            )
            box["dest"] = DestPipe("t", fwd, qemu, back, self.errors.append, decoder=hde.get("decoder"))

        t = threading.Thread(target=destination)
        t.start()
        fwd = connect_pipe("127.0.0.1", port, self.client_tls, "localhost", b"h", congestion="cubic")
        src = SourcePipe(
            "t", self.agent_src, fwd, self.errors.append, encoder=hde.get("encoder"), window=hde.get("window")
        )
        qemu_dst, _ = self.qemu_dst_listen.accept()
        src.attach_back(self._accept_pipe(self.src_listen))
        t.join(10)
        return src, box["dest"], qemu_dst  # type: ignore[return-value]


def _drain(sock: socket.socket, out: list[bytes]) -> None:
    while data := sock.recv(MIB):
        out.append(data)


def test_bytes_cross_exactly_both_ways_and_delivery_is_reported(pki: Pki) -> None:
    ends = Ends(pki)
    src, dst, qemu_dst = ends.start()
    payload = os.urandom(24 * MIB)
    received: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(qemu_dst, received))
    drain.start()
    ends.qemu_src.sendall(payload)
    qemu_dst.sendall(b"reply from the destination QEMU")  # QEMU's return path
    ends.qemu_src.shutdown(socket.SHUT_WR)
    drain.join(30)
    qemu_dst.close()  # the destination QEMU ends its side: the return pipe closes cleanly
    back = b""
    ends.qemu_src.settimeout(10)
    while chunk := ends.qemu_src.recv(4096):
        back += chunk
    src.join(10)
    dst.join(10)
    assert hashlib.sha256(b"".join(received)).digest() == hashlib.sha256(payload).digest()
    assert back == b"reply from the destination QEMU"
    assert src.sent == len(payload) == dst.delivered
    assert src.delivered == len(payload)  # the last DELIVERED report arrived
    assert ends.errors == [] and src.error is None and dst.error is None


def test_delivery_lags_while_the_destination_qemu_does_not_read(pki: Pki) -> None:
    ends = Ends(pki)
    src, dst, qemu_dst = ends.start()
    def send() -> None:
        with contextlib.suppress(OSError):  # the pipe is aborted below
            ends.qemu_src.sendall(os.urandom(64 * MIB))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    # the destination QEMU reads nothing: the pipeline fills, then stalls
    until_steady("the pipeline to fill and stall", lambda: (src.sent, dst.delivered, src.delivered))
    assert 0 < src.sent < 64 * MIB
    assert src.sent - (src.delivered or 0) > 0  # what the switchover gate must wait for
    assert (src.delivered or 0) <= dst.delivered
    src.abort()
    dst.abort()
    qemu_dst.close()


@pytest.mark.parametrize("hde", [False, True], ids=["raw", "hde"])
def test_a_broken_destination_breaks_the_source_qemu_connection(pki: Pki, hde: bool) -> None:
    """With HDE, every end has two threads joined by a hand-off: a thread waiting on it (the
    sender for frames, the QEMU writer for decoded bytes) must wake and end too."""
    ends = Ends(pki)
    coders: dict[str, Any] = {}
    if hde:
        coders = {"encoder": HdeEncoder(algorithm="zstd", level=1, framing="qemu", dict_capacity=1 << 14),
                  "decoder": HdeDecoder(max_output=2 * MIB), "window": 64 * MIB}  # fmt: skip
    src, dst, qemu_dst = ends.start(**coders)
    qemu_dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    qemu_dst.close()  # a reset: the destination QEMU died

    def push() -> None:
        with contextlib.suppress(OSError):
            while True:
                ends.qemu_src.sendall(b"x" * MIB)

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    pusher.join(20)
    assert not pusher.is_alive()  # the source QEMU's connection broke: it fails its migration
    src.join(10)
    dst.join(10)
    assert dst.error is not None and src.error is not None
    assert 2 <= len(ends.errors) <= 2  # each end reports its first failure once
    assert not any(t.is_alive() for t in [*src._threads, *dst._threads])


def test_a_pipe_keeps_little_unsent_in_the_kernel_when_asked(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    client_tls = make_tls_contexts(pki.ca, pki.client_cert, pki.client_key).client
    lsock = socket.create_server(("127.0.0.1", 0))

    def server() -> None:
        sock, _ = lsock.accept()
        sock.recv(len(PREAMBLE), socket.MSG_WAITALL)
        accept_blocking(sock, server_tls, timeout=5).recv(1)

    got: dict[int | None, int] = {}
    for lowat in (128 << 10, None):
        t = threading.Thread(target=server)
        t.start()
        tls = connect_pipe(
            "127.0.0.1", lsock.getsockname()[1], client_tls, "localhost", b"h", notsent_lowat=lowat, congestion="cubic"
        )
        t.join(10)
        got[lowat] = tls.getsockopt(socket.IPPROTO_TCP, sockopts.TCP_NOTSENT_LOWAT)
        tls.close()
    assert got[128 << 10] == 128 << 10
    assert got[None] != 128 << 10  # not asked: the kernel's default (net.ipv4.tcp_notsent_lowat)


def test_the_agents_dwcp_port_leaves_socket_buffers_to_the_kernel() -> None:
    """A fixed SO_RCVBUF is capped by net.core.rmem_max and locks autotuning: at 50 ms RTT it
    held a pipe to a third of a 1 Gbit/s link. The migration listener must not set one."""
    listener = MigrationListener("127.0.0.1", 0, ssl.create_default_context(), lambda *a: None, lambda *a: None)
    handed: list[socket.socket] = []
    fresh = socket.socket()
    default = fresh.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    fresh.close()

    async def take(sock: socket.socket) -> None:
        handed.append(sock)

    async def main() -> int:
        server = listener._server
        server._pipe_handler = take  # the listener's own sockets, handed to this test
        await server.start()
        try:
            raw = socket.create_connection(("127.0.0.1", server.port))
            raw.sendall(PREAMBLE)
            await until_async("the pipe to be handed over", lambda: handed)
            raw.close()
            return handed[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        finally:
            await server.close()

    assert asyncio.run(main()) <= max(default, 1 << 20) < 4 << 20


def test_hde_frames_cross_a_pipe_decoded_exactly_within_the_window(pki: Pki) -> None:
    ends = Ends(pki)
    enc = HdeEncoder(algorithm="zstd", level=1, chunk_size=4096, dict_capacity=1 << 14, framing="qemu", seal_later=True)
    src, dst, qemu_dst = ends.start(encoder=enc, decoder=HdeDecoder(max_output=2 * MIB), window=4 * MIB)
    page = (b"migration page, mostly text, " * 200)[:4096]
    payload = b"".join(page[:100] + os.urandom(8) + page[108:] for _ in range(4096))  # 16 MiB, near-repeats
    received: list[bytes] = []
    peak = [0]

    def watch() -> None:  # the decoded bytes owed never exceed the window (plus one read)
        while drain.is_alive():
            peak[0] = max(peak[0], src.sent - (src.delivered or 0))
            time.sleep(0.001)  # the sampling period

    drain = threading.Thread(target=_drain, args=(qemu_dst, received))
    drain.start()
    watcher = threading.Thread(target=watch)
    watcher.start()
    for i in range(0, len(payload), 256 << 10):
        ends.qemu_src.sendall(payload[i : i + (256 << 10)])
        time.sleep(0.002)  # pacing under test: QEMU writes in bursts, with pauses that flush HDE
    ends.qemu_src.shutdown(socket.SHUT_WR)
    drain.join(30)
    watcher.join(5)
    qemu_dst.close()
    src.join(10)
    dst.join(10)
    assert b"".join(received) == payload
    assert src.sent == dst.delivered == len(payload) and src.delivered == len(payload)
    assert src.wire < len(payload) / 3  # compressed on the wire
    assert peak[0] <= 4 * MIB + BUF
    assert ends.errors == []


def test_a_finished_hde_pipe_frees_its_dictionaries_at_once(pki: Pki) -> None:
    """Each end's HDE dictionary is up to ~1 GiB: it must go when the pipe ends, not when the
    pipe object goes (a reference cycle can keep that for a long time: the agents grew ~500 MB
    per migration)."""
    ends = Ends(pki)
    enc = HdeEncoder(algorithm="zstd", level=1, framing="qemu", dict_capacity=1 << 12, seal_later=True)
    dec = HdeDecoder(max_output=2 * MIB)
    alive = [weakref.ref(enc), weakref.ref(dec)]
    src, dst, qemu_dst = ends.start(encoder=enc, decoder=dec, window=64 * MIB)
    del enc, dec
    received: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(qemu_dst, received))
    drain.start()
    ends.qemu_src.sendall(os.urandom(MIB) * 3)
    ends.qemu_src.shutdown(socket.SHUT_WR)
    drain.join(30)
    qemu_dst.close()
    src.join(10)
    dst.join(10)
    assert len(b"".join(received)) == 3 * MIB and ends.errors == []
    assert src.encoder is None and dst.decoder is None  # the pipes themselves are still referenced here
    assert [r() for r in alive] == [None, None]  # and nothing else kept the coders


def test_a_cut_hde_stream_fails_the_destination_end(pki: Pki) -> None:
    ends = Ends(pki)
    src, dst, qemu_dst = ends.start(decoder=HdeDecoder())  # the source sends raw bytes: not HDE
    ends.qemu_src.sendall(b"certainly not an HDE stream" * 100)
    ends.qemu_src.shutdown(socket.SHUT_WR)
    dst.join(10)
    src.join(10)
    assert dst.error is not None
    qemu_dst.close()


def test_a_return_pipe_arriving_after_the_end_is_closed(pki: Pki) -> None:
    ends = Ends(pki)
    src, dst, qemu_dst = ends.start()
    ends.qemu_src.shutdown(socket.SHUT_WR)  # QEMU ends: the forward pipe closes cleanly
    qemu_dst.close()
    src.join(10)
    dst.join(10)
    late_a, late_b = socket.socketpair()
    src.attach_back(late_a)  # type: ignore[arg-type]
    assert late_a.fileno() == -1  # closed, no thread started on it
    assert ends.errors == [] and src.error is None
    late_b.close()


def test_a_pipe_client_from_another_ca_is_refused(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    rogue = make_tls_contexts(pki.ca, pki.rogue_cert, pki.rogue_key).client
    lsock = socket.create_server(("127.0.0.1", 0))
    outcome: list[BaseException] = []

    def server() -> None:
        sock, _ = lsock.accept()
        sock.recv(len(PREAMBLE), socket.MSG_WAITALL)
        try:
            asyncio.run(asyncio.wait_for(accept_pipe(sock, server_tls, lambda _: True), 5))
        except (ssl.SSLError, OSError) as exc:
            outcome.append(exc)

    t = threading.Thread(target=server)
    t.start()
    with pytest.raises((ssl.SSLError, OSError)):
        tls = connect_pipe(
            "127.0.0.1", lsock.getsockname()[1], rogue, "localhost", b"hdr", timeout=5, congestion="cubic"
        )
        tls.recv(1)  # TLS 1.3: the refusal arrives after the client's handshake
    t.join(10)
    assert outcome and isinstance(outcome[0], ssl.SSLError)
