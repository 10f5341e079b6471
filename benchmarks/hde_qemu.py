"""HDE on QEMU's pre-copy stream: plain zstd-1, HDE on its fixed grid and HDE with framing="qemu",
side by side on the same bytes in the same run. Nothing is asserted; the figures are printed.

    .venv/bin/python benchmarks/hde_qemu.py                       # synthetic stream, ~1 min
    .venv/bin/python benchmarks/hde_qemu.py --capture FILE        # also a real capture (see
        tests/tooling/qemu_stream_capture.py; its cached capture is used when present)

Synthetic stream: a first pass over a guest's RAM (pages cut from /usr/bin binaries, a share of
zero pages sent as QEMU ZERO records) and rewrite passes over a working set with the mutation of
tests/tooling/guest_src/wss.c (7 in 8: a 64-byte copy + an 8-byte counter; 1 in 8: a new page).
Input is fed in 1 MiB writes, as the channel does; MB/s are of QEMU stream bytes, single core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from novacron.dwcp.hde import HdeDecoder, HdeEncoder  # noqa: E402
from tests.unit.dwcp.hde_strategies import synthetic_migration  # noqa: E402

MIB = 1 << 20


def corpus(limit: int = 48 * MIB) -> bytes:
    pool = bytearray()
    for path in sorted(Path("/usr/bin").iterdir()):
        if path.is_file() and not path.is_symlink() and len(pool) < limit:
            pool += path.read_bytes()[: 4 * MIB]
    return bytes(pool)


def pieces(data: bytes) -> list[bytes]:
    return [data[i : i + MIB] for i in range(0, len(data), MIB)]


def zstd_stream(phases: list[bytes]) -> list[tuple[float, int]]:
    """Plain streaming zstd-1 over the raw stream, a block flushed per write: (seconds, bytes out)."""
    cobj = zstandard.ZstdCompressor(level=1).compressobj()
    rows = []
    for phase in phases:
        t0, out = time.perf_counter(), 0
        for piece in pieces(phase):
            out += len(cobj.compress(piece)) + len(cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
        rows.append((time.perf_counter() - t0, out))
    return rows


def hde(phases: list[bytes], framing: str, capacity: int) -> tuple[list[tuple[float, int]], float]:
    enc = HdeEncoder(algorithm="zstd", level=1, mode="always", framing=framing, dict_capacity=capacity)
    rows, blob = [], []
    for phase in phases:
        t0, before = time.perf_counter(), enc.stats.bytes_out
        for piece in pieces(phase):
            blob += enc.encode(piece)
        blob += enc.flush()
        rows.append((time.perf_counter() - t0, enc.stats.bytes_out - before))
    wire = b"".join(blob)
    dec = HdeDecoder(max_dict_bytes=max(1 << 30, capacity * 4096))
    t0, out = time.perf_counter(), []
    for piece in pieces(wire):
        out.append(dec.feed(piece))
        while dec.has_backlog:
            out.append(dec.feed(b""))
    dec_s = time.perf_counter() - t0
    assert b"".join(out) == b"".join(phases), f"HDE {framing} round trip failed"
    return rows, dec_s


def report(title: str, phases: list[tuple[str, bytes]], capacity: int, rewritten_pages: int = 0) -> None:
    data = [p for _, p in phases]
    total = sum(map(len, data))
    print(f"\n{title}: {total / MIB:.0f} MiB of stream, dict_capacity={capacity}")
    print(f"{'encoder':<22}{'phase':<14}{'MB/s in':>9}{'ratio':>8}{'decode MB/s':>13}")
    runs = [("plain zstd-1", zstd_stream(data), None)]
    for framing in ("grid", "qemu"):
        rows, dec_s = hde(data, framing, capacity)
        runs.append((f"HDE zstd-1 {framing}", rows, dec_s))
    for name, rows, dec_s in runs:
        for (label, phase), (secs, out) in zip(phases, rows, strict=True):
            print(f"{name:<22}{label:<14}{len(phase) / secs / 1e6:>9.0f}{len(phase) / max(out, 1):>8.2f}")
        secs, out = sum(r[0] for r in rows), sum(r[1] for r in rows)
        dec = f"{total / dec_s / 1e6:>13.0f}" if dec_s else f"{'-':>13}"
        per_page = ""
        if rewritten_pages and len(rows) > 1:
            per_page = f"  rewrite pass: {sum(r[1] for r in rows[1:]) / rewritten_pages:.0f} B/page"
        print(f"{name:<22}{'all':<14}{total / secs / 1e6:>9.0f}{total / out:>8.2f}{dec}{per_page}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ram-mib", type=int, default=256, help="guest RAM of the synthetic stream")
    p.add_argument("--wss-mib", type=int, default=32, help="working set rewritten per pass")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--zero-share", type=float, default=0.5, help="share of RAM that is zero pages")
    p.add_argument("--capture", type=Path, default=None, help="a real QEMU pre-copy stream file")
    args = p.parse_args()

    pages = args.ram_mib * MIB // 4096
    nonzero = pages * (1 - args.zero_share)
    data, qs = synthetic_migration(
        1, pages, zero_share=args.zero_share, passes=args.passes,
        dirty_share=min(1.0, args.wss_mib * MIB / 4096 / max(nonzero, 1)), pool=corpus(),
    )  # fmt: skip
    first = qs.first_pass_end
    rewritten = len(qs.page_spans) - qs.first_pass_pages
    report(
        "Synthetic QEMU pre-copy stream",
        [("first pass", data[:first]), ("rewrites", data[first:])],
        capacity=pages + pages // 4,
        rewritten_pages=rewritten,
    )
    capture = args.capture
    if capture is None:
        try:
            from tests.tooling.qemu_stream_capture import cached_capture

            capture = cached_capture()
        except ImportError:
            capture = None
    if capture is not None and capture.exists():
        real = capture.read_bytes()
        report(f"Real QEMU capture {capture}", [("whole", real)], capacity=65536)
    else:
        print("\n(no real QEMU capture: run tests/tooling/test_qemu_stream_capture.py or pass --capture)")


if __name__ == "__main__":
    main()
