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
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastpath.fastpath import (
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


@dataclass
class Run:
    mib_s: float
    iperf_cpu: float  # user+sys of iperf3 -c and -s per GiB received (iperf3's own accounting)
    moved: int = 0  # bytes the relays moved (fast path only)


async def through_fastpath(
    peer: tuple[str, int], secret: bytes, run: str, streams: int, secs: float
) -> Run | None:
    """iperf3 -c through the fast path: one fastpath_send per iperf3 connection."""
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
        out = await asyncio.to_thread(iperf3_client, "127.0.0.1", listener.getsockname()[1], streams, secs)
    finally:
        acceptor.cancel()
        listener.close()
    for r in await asyncio.gather(*relays, return_exceptions=True):
        stats = r if isinstance(r, RelayStats) else r.stats if isinstance(r, FastpathError) else None
        if out is not None and stats is not None:
            out.moved += stats.bytes_forward + stats.bytes_back
    return out


def iperf3_client(host: str, port: int, streams: int, seconds: float) -> Run | None:
    """None if the run failed (e.g. iperf3 -s still busy with the previous client)."""
    try:
        out = subprocess.run(
            ["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J", "-P", str(streams)],
            capture_output=True, text=True, timeout=seconds + 30,
        )  # fmt: skip
        end = json.loads(out.stdout)["end"]
        received, cpu = end["sum_received"], end["cpu_utilization_percent"]
        cpu_s = (cpu["host_total"] + cpu["remote_total"]) / 100 * received["seconds"]
        return Run(received["bits_per_second"] / 8 / MIB, cpu_s / max(received["bytes"] / GIB, 1e-9))
    except (subprocess.SubprocessError, ValueError, KeyError):
        return None


def _fast(peer: tuple[str, int], secret: bytes, run: str, streams: int, secs: float) -> Run | None:
    return asyncio.run(through_fastpath(peer, secret, run, streams, secs))


def retry(run: Callable[[], Run | None]) -> Run | None:
    """iperf3 -s serves one client at a time and may still be busy with the last one: retry."""
    for _ in range(3):
        if (result := run()) is not None:
            return result
        time.sleep(0.5)
    return None


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
            direct, fast, relay_cpu = [], [], 0.0
            for r in range(args.rounds):
                direct.append(retry(partial(iperf3_client, args.host, dest_port, streams, args.seconds)))
                c0 = cpu_s() + cpu_s(relay_srv.pid)
                fast.append(retry(partial(_fast, peer, secret, f"b{streams}-{r}", streams, args.seconds)))
                relay_cpu += cpu_s() + cpu_s(relay_srv.pid) - c0
            moved = sum(f.moved for f in fast if f)
            rows.append((streams, direct, fast, relay_cpu / max(moved, 1) * GIB))
    finally:
        for proc in (relay_srv, iperf_srv):
            proc.kill()
            proc.wait()
    report(args, rows)


def report(
    args: argparse.Namespace, rows: list[tuple[int, list[Run | None], list[Run | None], float]]
) -> None:
    print(
        f"Fast path (os.splice, plaintext) via {args.host}: iperf3 -c -> source relay -> FastpathServer -> "
        f"iperf3 -s, next to iperf3 -c -> iperf3 -s; {args.rounds} interleaved rounds of {args.seconds:g} s"
    )
    print(
        f"{'iperf3 -P':>9}{'conns':>6}{'fast MiB/s':>12}{'iperf3 MiB/s':>14}{'ratio':>7}{'ratio/round':>22}"
        f"{'relay CPU s/GiB':>17}{'iperf3 CPU s/GiB':>18}"
    )
    for streams, direct, fast, relay_cpu in rows:
        pairs = [(f.mib_s, d.mib_s) for f, d in zip(fast, direct, strict=True) if f and d]
        med_f = statistics.median([f.mib_s for f in fast if f] or [0.0])
        med_d = statistics.median([d.mib_s for d in direct if d] or [0.0])
        iperf_cpu = statistics.median([d.iperf_cpu for d in direct if d] or [0.0])
        ratio = f"{med_f / med_d:.2f}" if med_f and med_d else "-"
        per_round = " ".join(f"{f / d:.2f}" for f, d in pairs) or "-"
        print(
            f"{streams:>9}{streams + 1:>6}{med_f:>12.0f}{med_d:>14.0f}{ratio:>7}{per_round:>22}"
            f"{relay_cpu:>17.2f}{iperf_cpu:>18.2f}"
        )
    print(
        "ratio = median fast path / median direct. CPU = user+sys per GiB: relay = both relay processes;\n"
        "iperf3 = its client+server (its own figure) in the direct runs. The relayed path does three TCP\n"
        "hops instead of one; where all parties share the same cores that extra kernel work is what the\n"
        "ratio pays for. Across two hosts each agent carries half the relay CPU."
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    asyncio.run(serve(sys.argv[3], int(sys.argv[4]), int(sys.argv[2])))
