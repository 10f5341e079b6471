"""How long a valid TLS pipe takes to open on the DWCP port while connections that never
authenticate are held open: 0, 8, 16 and 64 of them, side by side in one run. Nothing is asserted.

    .venv/bin/python benchmarks/pipe_stall.py             # the listener as it is, ~5 s
    .venv/bin/python benchmarks/pipe_stall.py --legacy    # also the handshake in the default
                                                          # thread pool, as it was (~2.5 min)

Stalled connections come from 127.0.0.7, the valid pipe from 127.0.0.1, all on loopback with a
throwaway CA. A quarter each: the pipe preamble then silence; the preamble and part of a
ClientHello; the preamble then a ClientHello a byte every 200 ms; an AMST stream's ClientHello (or
part of it) that never finishes TLS. "Open" is from the client's connect to the listener handing
the pipe to its migration (after the TLS handshake and the header).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from novacron.dwcp.admission import Admission, Limits  # noqa: E402
from novacron.dwcp.pipe_wire import PREAMBLE  # noqa: E402
from novacron.migration.listener import MigrationListener  # noqa: E402
from novacron.migration.wire import ChannelHeader, HeaderError, HeaderParser  # noqa: E402
from novacron.transport import ChannelServer, make_tls_contexts  # noqa: E402
from novacron.transport.pipe import connect_pipe  # noqa: E402
from tests.tooling.certs import issue, make_ca  # noqa: E402

STALLED = (0, 8, 16, 64)
ATTACKER, VALID = "127.0.0.7", "127.0.0.1"
HEADER = ChannelHeader("bench", 0, "pipe").encode()
LEGACY_STEP_S = 10.0  # the removed code's per-step timeout


def pki(base: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca, cert, key = make_ca(base)
    a, b = issue(base, "node-a", cert, key), issue(base, "node-b", cert, key)
    return make_tls_contexts(ca, a.cert, a.key).server, make_tls_contexts(ca, b.cert, b.key).client


def client_hello() -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


class Stalls:
    """n connections that never authenticate, held open until `close`."""

    def __init__(self, port: int, n: int, hello: bytes) -> None:
        firsts = [PREAMBLE, PREAMBLE + hello[:40], PREAMBLE, hello, PREAMBLE, PREAMBLE + hello[:40], PREAMBLE, hello[:60]]
        self.socks: list[socket.socket] = []
        self.trickling: list[socket.socket] = []
        for i in range(n):
            s = socket.socket()
            s.bind((ATTACKER, 0))
            s.connect((VALID, port))
            s.sendall(firsts[i % 8])
            s.setblocking(False)
            self.socks.append(s)
            if i % 4 == 2:
                self.trickling.append(s)
        self._task = asyncio.create_task(self._trickle(hello))

    async def _trickle(self, hello: bytes) -> None:
        for byte in hello:
            await asyncio.sleep(0.2)
            for s in self.trickling:
                with contextlib.suppress(OSError):
                    s.send(bytes([byte]))

    def close(self) -> None:
        self._task.cancel()
        for s in self.socks:
            s.close()


async def until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not get there")
        await asyncio.sleep(0.005)


Dispatch = Callable[[ChannelHeader, ssl.SSLSocket], None]
Start = Callable[[Dispatch], Awaitable[tuple[int, Admission]]]


class Bench:
    """One listener; `open_once` times one valid pipe from connect to dispatch."""

    def __init__(self, start: Start, client: ssl.SSLContext) -> None:
        self._start, self._client = start, client
        self._dispatched: asyncio.Event | None = None
        self._held = 0
        self.pipes: list[ssl.SSLSocket] = []

    def _dispatch(self, header: ChannelHeader, pipe: ssl.SSLSocket) -> None:
        self._held = self.admission.by_source.get(ATTACKER, 0)
        self.pipes.append(pipe)
        assert self._dispatched is not None
        self._dispatched.set()

    async def start(self) -> None:
        self.port, self.admission = await self._start(self._dispatch)

    async def open_once(self) -> tuple[float, int, int]:
        """(seconds to dispatch, stalled connections held at that moment, threads alive then)."""
        self._dispatched = asyncio.Event()
        out: list[object] = []

        def dial() -> None:
            pipe = connect_pipe(VALID, self.port, self._client, "localhost", HEADER, timeout=300, congestion="cubic")
            out.append(pipe)

        t0 = time.perf_counter()
        threading.Thread(target=dial, daemon=True).start()
        await self._dispatched.wait()
        took = time.perf_counter() - t0
        threads = threading.active_count()
        await until(lambda: bool(out))
        for p in [*out, *self.pipes]:
            p.close()  # type: ignore[attr-defined]
        self.pipes.clear()
        return took, self._held, threads


async def current(server_tls: ssl.SSLContext, dispatch: Dispatch) -> tuple[int, Admission]:
    """The listener as the agent runs it (default limits)."""

    def take(header: ChannelHeader, pipe: ssl.SSLSocket) -> None:
        dispatch(header, pipe)

    listener = MigrationListener(VALID, 0, server_tls, lambda *_: "no AMST", take)
    await listener.start()
    return listener.port, listener._server.admission


async def legacy(server_tls: ssl.SSLContext, dispatch: Dispatch) -> tuple[int, Admission]:
    """The handshake and header in the loop's default thread pool, a timeout per step (as it was)."""

    def blocking(sock: socket.socket) -> tuple[ssl.SSLSocket, ChannelHeader]:
        sock.setblocking(True)
        sock.settimeout(LEGACY_STEP_S)
        try:
            tls = server_tls.wrap_socket(sock, server_side=True, suppress_ragged_eofs=False)
            parser = HeaderParser()
            while parser.header is None:
                byte = tls.recv(1)
                if not byte:
                    raise HeaderError("ended")
                parser.feed(byte)
        except BaseException:
            sock.close()
            raise
        tls.settimeout(None)
        return tls, parser.header

    async def take(sock: socket.socket) -> None:
        tls, header = await asyncio.to_thread(blocking, sock)
        dispatch(header, tls)

    server = ChannelServer(VALID, 0, ssl=server_tls, limits=Limits(deadline_s=3600), pipe_handler=take)
    await server.start()
    return server.port, server.admission


async def run(name: str, bench: Bench, reps: int) -> list[str]:
    await bench.start()
    hello = client_hello()
    cells, held, threads = [], [], []
    for n in STALLED:
        stalls = Stalls(bench.port, n, hello)
        await until(lambda: bench.admission.by_source.get(ATTACKER, 0) == n)  # noqa: B023
        times = []
        for _ in range(reps):
            took, h, th = await bench.open_once()
            times.append(took)
            held.append(f"{h}")
            threads.append(th)
        stalls.close()
        await until(lambda: bench.admission.total == 0, timeout=600)
        med = statistics.median(times)
        cells.append(f"{_ms(med)} / {_ms(max(times))}" if reps > 1 else _ms(med))
    return [name, *cells, "/".join(sorted(set(held), key=int)), f"{max(threads)}"]


def _ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server_tls, client_tls = pki(Path(tmp))
        now = Bench(lambda d: current(server_tls, d), client_tls)
        rows = [await run(f"event loop (median / max of {args.reps})", now, args.reps)]
        if args.legacy:
            before = Bench(lambda d: legacy(server_tls, d), client_tls)
            rows.append(await run("thread pool, as before (1 run)", before, 1))
    head = ["valid pipe: connect -> dispatched", *(f"{n} stalled" for n in STALLED), "stalled held at open", "threads"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, openssl {ssl.OPENSSL_VERSION}")
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # the listener warns about every stalled connection it closes
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20, help="valid pipes timed per column")
    ap.add_argument("--legacy", action="store_true", help="also time the thread-pool handshake it replaced")
    asyncio.run(main(ap.parse_args()))
