"""DWCP data-plane benchmark: channel throughput next to iperf3 on the same path, and HDE encoding
next to plain zstandard on the same buffer. Every figure is measured in this run; nothing is asserted.

    .venv/bin/python benchmarks/transport.py                  # loopback, ~40 s
    .venv/bin/python benchmarks/transport.py --netns peer --host 10.0.0.2   # receiver in a namespace
    .venv/bin/python benchmarks/transport.py --fastpath       # only: splice fast path vs iperf3, ~30 s

The receiving side (DWCP receiver, iperf3 -s) runs as a separate process, optionally prefixed with
`ip netns exec NS`, so the emulated-WAN setup only has to provide a namespace and an address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import zstandard

from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.transport import ChannelServer, open_channel

MIB = 1 << 20


# -- data ------------------------------------------------------------------------------------------
def binaries(total: int, seed: int = 0) -> bytes:
    """Real executables from /usr/bin, cut at random offsets, a few bytes changed per MiB."""
    pool = bytearray()
    for path in sorted(Path("/usr/bin").iterdir()):
        if path.is_file() and not path.is_symlink() and len(pool) < 32 * MIB:
            pool += path.read_bytes()[: 4 * MIB]
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < total:
        off = rnd.randrange(0, len(pool) - MIB)
        piece = bytearray(pool[off : off + MIB])
        for _ in range(16):
            piece[rnd.randrange(MIB)] = rnd.randrange(256)
        out += piece
    return bytes(out[:total])


def ram_iterations(total: int, seed: int = 1) -> bytes:
    """A guest's RAM as pre-copy sends it: round 0 every 4 KiB page (binaries, a quarter zero pages),
    then rounds of only the pages dirtied since (a quarter of them, 8..1024 bytes rewritten in each),
    until `total`.
    Rounds resend a page long after its previous version, far outside zstd's window."""
    rnd = random.Random(seed)
    ram_size = 16 * MIB
    base = binaries(ram_size, seed)
    pages = [base[i : i + 4096] if rnd.random() < 0.75 else bytes(4096) for i in range(0, ram_size, 4096)]
    out = bytearray(b"".join(pages))
    while len(out) < total:
        for i in range(len(pages)):
            if rnd.random() < 0.25:
                m = bytearray(pages[i])
                at, span = rnd.randrange(4096), rnd.randrange(8, 1024)  # a struct or buffer rewritten
                m[at : at + span] = rnd.randbytes(len(m[at : at + span]))
                pages[i] = bytes(m)
                out += pages[i]
    return bytes(out[:total])


# -- receiver process ------------------------------------------------------------------------------
async def serve(host: str, port: int) -> None:
    async with ChannelServer(host, port) as srv:
        print(json.dumps({"port": srv.port}), flush=True)
        while True:
            reader = await srv.accept()
            asyncio.create_task(_drain(reader))


async def _drain(reader: object) -> None:
    async for _ in reader:  # type: ignore[attr-defined]
        pass


def start_receiver(args: argparse.Namespace) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, __file__, "--serve", "--host", args.bind, "--port", str(args.port)]
    proc = subprocess.Popen(netns(args) + cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("DWCP receiver did not start")
    return proc, json.loads(line)["port"]


def netns(args: argparse.Namespace) -> list[str]:
    return ["ip", "netns", "exec", args.netns] if args.netns else []


# -- DWCP runs -------------------------------------------------------------------------------------
async def dwcp_run(host: str, port: int, streams: int, hde: dict | None, data: bytes, seconds: float) -> dict:
    """Send for `seconds`; with HDE at most one pass over `data`, since a repeat would be deduplicated."""
    ch = await open_channel(host, port, streams=streams, hde=hde, congestion="adaptive")
    sent, pos = 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and (hde is None or pos + MIB <= len(data)):
        piece = data[pos : pos + MIB]
        pos = (pos + MIB) % len(data) if hde is None else pos + MIB
        await ch.write(piece)
        sent += len(piece)
    await ch.close()  # returns after the receiver's FIN_ACK: everything arrived
    dt = time.perf_counter() - t0
    st = ch.stats()
    return {
        "mib_s": sent / dt / MIB,
        "wire_mib_s": st["bytes_on_wire"] / dt / MIB,
        "ratio": st["compression_ratio"],
    }


# -- iperf3 ----------------------------------------------------------------------------------------
def iperf3(args: argparse.Namespace, streams: int) -> float | None:
    port = free_port()
    server = subprocess.Popen(
        netns(args) + ["iperf3", "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5  # (a probe connection would end a `-s -1` server)
        while time.monotonic() < deadline:
            try:
                socket.create_connection((args.host, port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        for _ in range(3):  # the server may still be busy with the probe connection: retry
            time.sleep(0.3)
            out = subprocess.run(
                [
                    "iperf3",
                    "-c",
                    args.host,
                    "-p",
                    str(port),
                    "-t",
                    str(args.seconds),
                    "-J",
                    "-P",
                    str(streams),
                ],
                capture_output=True,
                text=True,
                timeout=args.seconds + 20,
            )
            result = json.loads(out.stdout)
            if "error" not in result:
                return result["end"]["sum_received"]["bits_per_second"] / 8 / MIB
        return None
    except (subprocess.SubprocessError, json.JSONDecodeError, KeyError):
        return None
    finally:
        server.kill()
        server.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- HDE -------------------------------------------------------------------------------------------
def hde_bench(data: bytes) -> list[tuple[str, float, float, float]]:
    rows = []
    for name, level in (("zstd", 1), ("zstd", 3), ("lz4", 1), ("none", 0)):
        enc = HdeEncoder(algorithm=name, level=level, mode="always")
        t0 = time.perf_counter()
        frames = [f for i in range(0, len(data), MIB) for f in enc.encode(data[i : i + MIB])] + enc.flush()
        enc_s = time.perf_counter() - t0
        blob = b"".join(frames)
        dec = HdeDecoder()
        t0 = time.perf_counter()
        out = dec.feed(blob)
        while dec.has_backlog:
            out += dec.feed(b"")
        dec_s = time.perf_counter() - t0
        assert out == data, "HDE round trip failed"
        rows.append(
            (f"HDE {name}-{level}", len(data) / enc_s / MIB, len(data) / dec_s / MIB, len(data) / len(blob))
        )
    for level in (1, 3):
        t0 = time.perf_counter()
        blob = zstandard.ZstdCompressor(level=level).compress(data)
        enc_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        zstandard.ZstdDecompressor().decompress(blob)
        dec_s = time.perf_counter() - t0
        rows.append(
            (
                f"plain zstd-{level} (baseline)",
                len(data) / enc_s / MIB,
                len(data) / dec_s / MIB,
                len(data) / len(blob),
            )
        )
    return rows


# -- main ------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address the receiver is reached at")
    p.add_argument("--bind", default=None, help="address the receiver listens on (default: --host)")
    p.add_argument("--port", type=int, default=0, help="DWCP receiver port (0: any free)")
    p.add_argument("--netns", default=None, help="run the receivers inside this network namespace")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    p.add_argument("--data-mib", type=int, default=24, help="size of each HDE test buffer")
    p.add_argument("--skip-transport", action="store_true")
    p.add_argument("--skip-hde", action="store_true")
    p.add_argument("--fastpath", action="store_true", help="only the splice fast path next to iperf3")
    p.add_argument("--rounds", type=int, default=3, help="--fastpath: interleaved rounds per row")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.bind = args.bind or args.host
    if args.serve:
        asyncio.run(serve(args.bind, args.port))
        return
    started = time.perf_counter()
    if args.fastpath:
        from transport_fastpath import fastpath  # beside this file; only this mode needs it

        fastpath(args)
        print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")
        return
    if not args.skip_transport:
        transport(args)
    if not args.skip_hde:
        print(f"\nHDE encoding ({args.data_mib} MiB buffers, 1 MiB writes, single core)")
        for label, data in (
            ("binaries", binaries(args.data_mib * MIB)),
            ("RAM pre-copy rounds", ram_iterations(args.data_mib * MIB)),
        ):
            print(f"  data: {label}")
            print(f"  {'codec':<28}{'encode MiB/s':>14}{'decode MiB/s':>14}{'ratio':>8}")
            for name, enc, dec, ratio in hde_bench(data):
                print(f"  {name:<28}{enc:>14.0f}{dec:>14.0f}{ratio:>8.2f}")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def transport(args: argparse.Namespace) -> None:
    random_data = os.urandom(16 * MIB)
    real_data = ram_iterations(128 * MIB)
    proc, port = start_receiver(args)
    try:
        results = {}
        for streams in (1, 8):
            for label, hde, data in (
                ("HDE off", None, random_data),
                ("HDE zstd-1", {"algorithm": "zstd", "level": 1}, real_data),
            ):
                results[streams, label] = asyncio.run(
                    dwcp_run(args.host, port, streams, hde, data, args.seconds)
                )
    finally:
        proc.kill()
        proc.wait()
    have_iperf = shutil.which("iperf3") is not None
    base = {n: iperf3(args, n) if have_iperf else None for n in (1, 8)}
    print(
        f"Throughput {args.host} ({args.seconds:.0f} s runs; DWCP app MiB/s = stream bytes delivered, "
        f"wire = bytes on the sockets)"
    )
    if not have_iperf:
        print("iperf3 not installed")
    print(
        f"{'streams':>7}  {'config':<12}{'DWCP MiB/s':>12}{'wire MiB/s':>12}{'HDE ratio':>10}"
        f"{'iperf3 MiB/s':>14}{'DWCP/iperf3':>13}"
    )
    for (streams, label), r in results.items():
        ip = base[streams]
        ratio = f"{r['mib_s'] / ip:.2f}" if ip else "-"
        ip_s = f"{ip:.0f}" if ip else "-"
        print(
            f"{streams:>7}  {label:<12}{r['mib_s']:>12.0f}{r['wire_mib_s']:>12.0f}{r['ratio']:>10.2f}"
            f"{ip_s:>14}{ratio:>13}"
        )


if __name__ == "__main__":
    main()
