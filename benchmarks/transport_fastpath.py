"""The `--fastpath` section of benchmarks/transport.py: the splice fast path next to iperf3.

iperf3 itself plays QEMU: its client connects to a local port of the "source agent" (this process),
each of its connections (control + P data streams, like multifd's N+1) goes through fastpath_send
to a FastpathServer in a separate process (inside --netns if given), which splices into `iperf3 -s`.
Baseline: the same iperf3 client straight to the same `iperf3 -s` over the same path. Runs are
interleaved (direct, fast path, direct, ...) and medians reported, since a shared 2-core machine's
loopback speed drifts by 2x between runs. Relay CPU (user+sys of both relay processes, per GiB
relayed) is the load-independent figure: it tells how fast the relay could go with a core to itself.
Note: iperf3 -s closes its data sockets while the relayed pipeline still holds bytes in flight, so
those connections end in a reset; it counts that as end of test, so do we.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from novacron.dwcp.tunnel.fastpath import (
    FastpathError,
    FastpathHeader,
    FastpathServer,
    RelayStats,
    fastpath_send,
    new_secret,
)

MIB, GIB = 1 << 20, 1 << 30
SECRET_ENV = "NOVACRON_FASTPATH_BENCH_SECRET"


async def serve(host: str, port: int, dest_port: int) -> None:
    """The destination agent: every header with a valid token goes to the local iperf3 -s."""
    secret = bytes.fromhex(os.environ[SECRET_ENV])

    def authorize(header: FastpathHeader) -> tuple[str, int] | None:
        return ("127.0.0.1", dest_port) if header.verify(secret) else None

    async with FastpathServer(host, port, authorize=authorize) as srv:
        print(json.dumps({"port": srv.port}), flush=True)
        await asyncio.Event().wait()


async def through_fastpath(
    peer: tuple[str, int], secret: bytes, run: str, streams: int, seconds: float
) -> tuple[float | None, int]:
    """iperf3 -c through the fast path: (iperf3's received MiB/s or None, bytes the relays moved)."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    relays: list[asyncio.Task[RelayStats]] = []

    async def accept() -> None:
        while True:
            qemu, _ = await loop.sock_accept(listener)
            header = FastpathHeader.signed(run, len(relays), secret)
            relays.append(asyncio.create_task(fastpath_send(qemu, peer, header)))

    acceptor = asyncio.create_task(accept())
    try:
        out = await asyncio.to_thread(iperf3_client, "127.0.0.1", listener.getsockname()[1], streams, seconds)
    finally:
        acceptor.cancel()
        listener.close()
    moved = 0
    for r in await asyncio.gather(*relays, return_exceptions=True):
        stats = r if isinstance(r, RelayStats) else r.stats if isinstance(r, FastpathError) else None
        moved += stats.bytes_forward + stats.bytes_back if stats else 0
    return out, moved


def iperf3_client(host: str, port: int, streams: int, seconds: float) -> float | None:
    """Received MiB/s, or None if the run failed (e.g. iperf3 -s still busy with the last client)."""
    try:
        out = subprocess.run(
            ["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J", "-P", str(streams)],
            capture_output=True, text=True, timeout=seconds + 30,
        )  # fmt: skip
        return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / MIB
    except (subprocess.SubprocessError, ValueError, KeyError):
        return None


def retry(run: Callable[[], tuple[float | None, int]]) -> tuple[float | None, int]:
    """iperf3 -s serves one client at a time and may still be busy with the last one: retry."""
    for _ in range(3):
        mib_s, moved = run()
        if mib_s is not None:
            return mib_s, moved
        time.sleep(0.5)
    return None, 0


def _direct(host: str, port: int, streams: int, seconds: float) -> tuple[float | None, int]:
    return iperf3_client(host, port, streams, seconds), 0


def _fast(
    peer: tuple[str, int], secret: bytes, run: str, streams: int, seconds: float
) -> tuple[float | None, int]:
    return asyncio.run(through_fastpath(peer, secret, run, streams, seconds))


def cpu_s(pid: int | None = None) -> float:
    """user+sys seconds of this process (all threads) or of `pid`."""
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fastpath(args: argparse.Namespace) -> None:
    if shutil.which("iperf3") is None:
        raise SystemExit("the fast-path benchmark needs iperf3 (apt-get install iperf3)")
    ns = ["ip", "netns", "exec", args.netns] if args.netns else []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dest_port = s.getsockname()[1]
    iperf_srv = subprocess.Popen(
        ns + ["iperf3", "-s", "-p", str(dest_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    secret = new_secret()
    cmd = [sys.executable, __file__, "--serve", str(dest_port), args.bind, str(args.port)]
    env = {**os.environ, SECRET_ENV: secret.hex()}
    relay_srv = subprocess.Popen(
        ns + cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    rows = []
    try:
        assert relay_srv.stdout is not None
        line = relay_srv.stdout.readline()
        if not line:
            raise SystemExit("fast-path receiver did not start")
        peer = (args.host, json.loads(line)["port"])
        time.sleep(0.5)  # let iperf3 -s come up
        for streams in (1, 4):
            direct, fast, cpu, moved = [], [], 0.0, 0
            for r in range(args.rounds):
                direct.append(retry(partial(_direct, args.host, dest_port, streams, args.seconds))[0])
                c0 = cpu_s() + cpu_s(relay_srv.pid)
                fp, n = retry(partial(_fast, peer, secret, f"b{streams}-{r}", streams, args.seconds))
                cpu += cpu_s() + cpu_s(relay_srv.pid) - c0
                fast.append(fp)
                moved += n
            rows.append((streams, direct, fast, cpu / max(moved, 1) * GIB))
    finally:
        for proc in (relay_srv, iperf_srv):
            proc.kill()
            proc.wait()
    print(
        f"Fast path (os.splice, plaintext) via {args.host}: iperf3 -c -> source relay -> FastpathServer -> "
        f"iperf3 -s, next to iperf3 -c -> iperf3 -s; {args.rounds} interleaved rounds of {args.seconds:g} s"
    )
    print(
        f"{'iperf3 -P':>9}{'conns':>6}{'fast path MiB/s':>17}{'iperf3 MiB/s':>14}{'ratio':>7}"
        f"{'ratio/round':>20}{'relay CPU s/GiB':>17}"
    )
    for streams, direct, fast, cpu_per_gib in rows:
        pairs = [(f, d) for f, d in zip(fast, direct, strict=True) if f and d]
        med_f = statistics.median([f for f in fast if f]) if any(fast) else 0.0
        med_d = statistics.median([d for d in direct if d]) if any(direct) else 0.0
        ratio = f"{med_f / med_d:.2f}" if med_f and med_d else "-"
        per_round = " ".join(f"{f / d:.2f}" for f, d in pairs) or "-"
        print(
            f"{streams:>9}{streams + 1:>6}{med_f:>17.0f}{med_d:>14.0f}{ratio:>7}{per_round:>20}"
            f"{cpu_per_gib:>17.2f}"
        )
    print("(ratio = median fast path / median direct; relay CPU = both relay processes, user+sys)")


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    asyncio.run(serve(sys.argv[3], int(sys.argv[4]), int(sys.argv[2])))
