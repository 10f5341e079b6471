"""Connections to the DWCP port before they authenticate (dwcp/admission.py, transport/server.py,
transport/pipe_accept.py, migration/listener.py): stalled ones hold no thread and do not delay a valid pipe,
one deadline covers peek + TLS + header, and caps per source and in all reset the excess at once.
Real sockets on loopback (attackers bound to other 127.x addresses), real TLS with a throwaway CA."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from novacron.dwcp.admission import Admission, Limits
from novacron.dwcp.pipe_wire import PREAMBLE
from novacron.migration.listener import MigrationListener
from novacron.migration.wire import ChannelHeader
from novacron.transport import make_tls_contexts
from novacron.transport.pipe import connect_pipe
from novacron.transport.pipe_accept import accept_pipe
from tests.tooling.certs import issue, make_ca
from tests.tooling.wait import until_async as until

VALID = "127.0.0.1"
ATTACKER = "127.0.0.7"
HEADER = ChannelHeader("m1", 0, "pipe").encode()
SERVER_LOG = "novacron.transport.server"


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext
    rogue: ssl.SSLContext  # a client certificate from another CA


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    base: Path = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = make_ca(base / "ca")
    node_a, node_b = issue(base / "ca", "node-a", ca_cert, ca_key), issue(base / "ca", "node-b", ca_cert, ca_key)
    _, rogue_cert, rogue_key = make_ca(base / "rogue", "rogue-ca")
    rogue = issue(base / "rogue", "node-b", rogue_cert, rogue_key)
    return Tls(
        make_tls_contexts(ca, node_a.cert, node_a.key).server,
        make_tls_contexts(ca, node_b.cert, node_b.key).client,
        make_tls_contexts(ca, rogue.cert, rogue.key).client,
    )


def client_hello() -> bytes:
    """The first flight of a real TLS client: what an AMST stream starts with."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


class Rig:
    """A MigrationListener whose pipe dispatch records what it got, and when."""

    def __init__(self, server_tls: ssl.SSLContext, limits: Limits) -> None:
        self.listener = MigrationListener(VALID, 0, server_tls, lambda *_: "no AMST here", self._dispatch, limits=limits)
        self.pipes: list[tuple[ChannelHeader, ssl.SSLSocket]] = []
        self.peers: list[str | None] = []
        self.dispatched = asyncio.Event()
        self.on_dispatch: Callable[[], None] = lambda: None

    @property
    def admission(self) -> Admission:
        return self.listener._server.admission

    def _dispatch(self, header: ChannelHeader, pipe: ssl.SSLSocket, peer: str | None) -> str | None:
        self.on_dispatch()
        self.peers.append(peer)
        self.pipes.append((header, pipe))
        self.dispatched.set()
        return None if header.migration == "m1" else f"no migration {header.migration}"

    async def __aenter__(self) -> Rig:
        await self.listener.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, pipe in self.pipes:
            pipe.close()
        await self.listener.close()


def dial(port: int, source: str = ATTACKER, first: bytes = b"") -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.connect((VALID, port))
    s.sendall(first)
    s.setblocking(False)
    return s


def is_open(s: socket.socket) -> bool:
    """Not closed or reset by the server (bytes it sent, a ServerHello, do not count)."""
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


async def closed_by_server(s: socket.socket, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        with contextlib.suppress(OSError):  # a reset
            while await loop.sock_recv(s, 4096):
                pass


def pipe_in_thread(port: int, ctx: ssl.SSLContext, header: bytes = HEADER) -> tuple[threading.Thread, list[Any]]:
    """A client dialing a pipe in its own thread (connect_pipe blocks); the result or the error."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(connect_pipe(VALID, port, ctx, "localhost", header, timeout=30, congestion="cubic"))
        except Exception as exc:
            out.append(exc)

    t = threading.Thread(target=run, name="valid-client", daemon=True)
    t.start()
    return t, out


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that records what is run in it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.used: list[object] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.used.append(fn)
        return super().submit(fn, *args, **kwargs)


# -- stalled connections do not delay a valid pipe ------------------------------------------------
def test_a_valid_pipe_opens_while_64_stalled_connections_are_held(tls: Tls) -> None:
    hello = client_hello()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        executor = CountingExecutor()
        loop.set_default_executor(executor)
        threads_before = {t.ident for t in threading.enumerate()}
        async with Rig(tls.server, Limits(deadline_s=120.0)) as rig:
            port = rig.listener.port
            attackers = [dial(port, first=PREAMBLE) for _ in range(16)]  # preamble, then silence
            attackers += [dial(port, first=PREAMBLE + hello[:40]) for _ in range(16)]  # a partial ClientHello
            tricklers = [dial(port, first=PREAMBLE) for _ in range(16)]  # a byte every 200 ms
            attackers += tricklers
            attackers += [dial(port, first=hello) for _ in range(8)]  # AMST: never finishes TLS
            attackers += [dial(port, first=hello[:60]) for _ in range(8)]

            async def trickle() -> None:
                for byte in hello:
                    await asyncio.sleep(0.2)  # pacing under test: the attackers trickle
                    for s in tricklers:
                        s.send(bytes([byte]))

            trickling = asyncio.create_task(trickle())
            await until("64 stalled connections held", lambda: rig.admission.by_source.get(ATTACKER) == 64)

            seen: dict[str, Any] = {}

            def at_dispatch() -> None:
                seen["held"] = rig.admission.by_source.get(ATTACKER)
                seen["open"] = sum(is_open(s) for s in attackers)
                seen["trickling"] = not trickling.done()
                seen["threads"] = {t.ident for t in threading.enumerate()} - threads_before

            rig.on_dispatch = at_dispatch
            client, out = pipe_in_thread(port, tls.client, HEADER + b"qemu's first bytes")
            async with asyncio.timeout(30):
                await rig.dispatched.wait()
            assert seen["held"] == 64 and seen["open"] == 64 and seen["trickling"]
            assert seen["threads"] <= {client.ident}  # only the client's own thread is new
            assert executor.used == []  # no handshake ran in a worker thread
            await until("the client's outcome", lambda: bool(out))
            header, pipe = rig.pipes[0]
            assert header == ChannelHeader("m1", 0, "pipe")
            assert rig.peers[0] is not None  # the dispatcher learns the certificate's node name
            assert pipe.gettimeout() is None  # blocking, for the pipe threads
            pipe.settimeout(10)
            assert pipe.recv(100) == b"qemu's first bytes"  # nothing past the header was taken
            out[0].close()
            trickling.cancel()
            for s in attackers:
                s.close()

    asyncio.run(main())


# -- caps -------------------------------------------------------------------------------------------
def test_a_source_over_its_cap_is_reset_at_once_while_others_are_served(
    tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, SERVER_LOG)

    async def main() -> None:
        async with Rig(tls.server, Limits(deadline_s=120.0, per_source=4, total=100)) as rig:
            port = rig.listener.port
            held = [dial(port, first=PREAMBLE) for _ in range(4)]
            await until("4 held", lambda: rig.admission.by_source.get(ATTACKER) == 4)
            over = [dial(port, first=PREAMBLE) for _ in range(10)]
            for s in over:
                await closed_by_server(s)  # long before any deadline
            assert all(is_open(s) for s in held) and rig.admission.by_source[ATTACKER] == 4
            client, out = pipe_in_thread(port, tls.client)
            async with asyncio.timeout(30):
                await rig.dispatched.wait()
            await until("the client's outcome", lambda: bool(out))
            out[0].close()
            for s in held + over:
                s.close()

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "reset" in r.getMessage()]
    assert len(lines) == 1 and ATTACKER in lines[0]  # ten refusals, one line


def test_the_global_cap_resets_every_source_until_a_slot_frees(tls: Tls) -> None:
    async def main() -> None:
        async with Rig(tls.server, Limits(deadline_s=120.0, per_source=4, total=6)) as rig:
            port = rig.listener.port
            held = [dial(port, ATTACKER, PREAMBLE) for _ in range(4)] + [dial(port, "127.0.0.8", PREAMBLE) for _ in range(2)]
            await until("6 held", lambda: rig.admission.total == 6)
            await closed_by_server(dial(port, "127.0.0.9", PREAMBLE))
            client, out = pipe_in_thread(port, tls.client)
            await until("the client's outcome", lambda: bool(out))
            assert isinstance(out[0], OSError) and not rig.pipes  # the valid client too: no slot
            held.pop().close()  # one stalled connection goes: its slot frees
            await until("a free slot", lambda: rig.admission.total == 5)
            client, out = pipe_in_thread(port, tls.client)
            async with asyncio.timeout(30):
                await rig.dispatched.wait()
            await until("the client's outcome", lambda: bool(out))
            out[0].close()
            assert all(is_open(s) for s in held)
            for s in held:
                s.close()

    asyncio.run(main())


# -- one deadline ---------------------------------------------------------------------------------------
def test_the_deadline_closes_connections_that_keep_trickling(tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    """A byte every 50 ms would reset any per-step timeout; the one deadline (1 s here) still ends
    the peek, the TLS handshake and the header alike."""
    caplog.set_level(logging.WARNING, SERVER_LOG)
    hello = client_hello()
    header = ChannelHeader("m" * 200, 0, "pipe").encode()
    header_sent: list[int] = []
    failed: list[BaseException] = []

    def header_trickler(port: int) -> None:  # TLS done, then the header a byte at a time
        raw = socket.socket()
        raw.bind(("127.0.0.9", 0))
        raw.connect((VALID, port))
        raw.sendall(PREAMBLE)
        pipe = tls.client.wrap_socket(raw, server_hostname="localhost")
        try:
            for i in range(len(header) - 1):
                pipe.send(header[i : i + 1])
                header_sent.append(i)
                time.sleep(0.05)  # pacing under test: the header trickles
        except OSError as exc:
            failed.append(exc)
        pipe.close()

    async def main() -> None:
        async with Rig(tls.server, Limits(deadline_s=1.0)) as rig:
            port = rig.listener.port
            pipe, stream = dial(port, ATTACKER, PREAMBLE), dial(port, "127.0.0.8")
            sent = {pipe: 0, stream: 0}

            async def trickle() -> None:
                for byte in hello:
                    for s in (pipe, stream):
                        if sent[s] >= 0:
                            try:
                                s.send(bytes([byte]))
                                sent[s] += 1
                            except OSError:
                                sent[s] = -sent[s]  # closed: how far it got
                    await asyncio.sleep(0.05)  # pacing under test: the attackers trickle

            trickling = asyncio.create_task(trickle())
            thread = threading.Thread(target=header_trickler, args=(port,), daemon=True)
            thread.start()
            for s in (pipe, stream):
                await closed_by_server(s)
            assert not trickling.done()  # closed while its bytes were still coming
            await asyncio.to_thread(thread.join, 30)
            assert failed and len(header_sent) < len(header) - 1 and not rig.pipes
            await until("every slot free", lambda: rig.admission.total == 0)
            trickling.cancel()
            pipe.close()
            stream.close()

    asyncio.run(main())
    late = [r.getMessage() for r in caplog.records if "not authenticated within 1.0 s" in r.getMessage()]
    assert len(late) == 3 and all(any(f"'{src}'" in m for m in late) for src in (ATTACKER, "127.0.0.8", "127.0.0.9"))


# -- what must still be refused, and what must still work -----------------------------------------------
def test_wrong_certificates_and_bad_headers_are_refused_and_a_valid_pipe_carries_data(tls: Tls) -> None:
    payload = os.urandom(4 << 20)

    async def main() -> None:
        async with Rig(tls.server, Limits()) as rig:
            port = rig.listener.port
            for ctx, header in ((tls.rogue, HEADER), (tls.client, b"NCMIG1 {not json}\n"), (tls.client, b"GET / HTTP/1.1\n")):
                client, out = pipe_in_thread(port, ctx, header)
                await asyncio.to_thread(client.join, 30)
                if isinstance(out[0], ssl.SSLSocket):  # TLS 1.3: the refusal comes after the client's handshake
                    assert await asyncio.to_thread(_ended, out[0])
                await until("the slot to free", lambda: rig.admission.total == 0)
            unknown, out = pipe_in_thread(port, tls.client, ChannelHeader("nope", 0, "pipe").encode())
            await asyncio.to_thread(unknown.join, 30)
            await until("the unknown migration's pipe", lambda: len(rig.pipes) == 1)
            assert rig.pipes[0][1].fileno() == -1  # refused by the dispatcher: closed
            out[0].close()
            rig.pipes.clear()
            rig.dispatched.clear()

            client, out = pipe_in_thread(port, tls.client)
            async with asyncio.timeout(30):
                await rig.dispatched.wait()
            await asyncio.to_thread(client.join, 10)
            writing = asyncio.create_task(asyncio.to_thread(_send_and_close, out[0], payload))
            received = await asyncio.to_thread(_read_all, rig.pipes[0][1])
            rig.pipes[0][1].close()
            await writing
            assert received == payload

    asyncio.run(main())


def _ended(pipe: ssl.SSLSocket) -> bool:
    """The server refused: an alert, a reset or an end of stream, and nothing else."""
    pipe.settimeout(10)
    try:
        return pipe.recv(1) == b""
    except OSError:
        return True
    finally:
        pipe.close()


def _read_all(pipe: ssl.SSLSocket) -> bytes:
    pipe.settimeout(30)
    return b"".join(iter(lambda: pipe.recv(1 << 20), b""))


def _send_and_close(pipe: ssl.SSLSocket, data: bytes) -> None:
    pipe.sendall(data)
    pipe.settimeout(5)
    with contextlib.suppress(OSError, ValueError):
        pipe.unwrap()  # close_notify: the reader sees the end of the stream
    pipe.close()


def test_the_handshake_names_the_peer_and_leaves_the_rest_in_the_socket(tls: Tls) -> None:
    lsock = socket.create_server((VALID, 0))
    done = threading.Event()

    def client() -> None:
        pipe = connect_pipe(VALID, lsock.getsockname()[1], tls.client, "localhost", b"hdr\nrest", congestion="cubic")
        done.wait(10)
        pipe.close()

    async def main() -> tuple[str | None, bytes, bytes]:
        t = threading.Thread(target=client, daemon=True)
        t.start()
        sock, _ = await asyncio.get_running_loop().sock_accept(lsock)
        sock.settimeout(10)  # the client sent it before its TLS handshake: no wait for the loop
        assert sock.recv(len(PREAMBLE), socket.MSG_WAITALL) == PREAMBLE
        got: list[bytes] = []
        pipe, peer = await accept_pipe(sock, tls.server, lambda b: got.append(b) is None and b == b"\n")
        pipe.settimeout(10)
        rest = pipe.recv(100)
        done.set()
        pipe.close()
        t.join(10)
        return peer, b"".join(got), rest

    lsock.setblocking(False)
    try:
        assert asyncio.run(main()) == ("node-b", b"hdr\n", b"rest")
    finally:
        lsock.close()
