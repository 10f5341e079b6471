"""Reporting for benchmarks/migration.py: per-cell medians, the table, the ratio lines, README and
JSON output, and rebuilding the table from earlier JSON files (`--from-json`). No runs here."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BASELINES = ("plain-cubic", "plain-bbr", "multifd4-zstd-bbr", "multifd4-zstd-bbr-qmp")
DWCP_METHODS = ("dwcp", "dwcp-multifd4")
METHODS = BASELINES + DWCP_METHODS  # the default set; the "-tls" rows are on request (--methods)
LABELS = {
    "plain-cubic": "plain / cubic",
    "plain-bbr": "plain / bbr",
    "multifd4-zstd-bbr": "multifd 4 + zstd / bbr",
    "multifd4-zstd-bbr-qmp": "multifd 4 + zstd / bbr, QEMU alone (QMP)",
    "multifd4-zstd-bbr-tls": "multifd 4 + zstd / bbr + QEMU TLS",
    "plain-bbr-tls": "plain / bbr + QEMU TLS",
    "dwcp": "NovaCron DWCP",
    "dwcp-multifd4": "NovaCron DWCP, multifd 4 (QEMU's zstd)",
}
PROFILES = ("datacenter", "internet", "constrained")


@dataclass
class Result:
    profile: str
    method: str
    finished: bool
    total_s: float | None
    downtime_ms: float | None
    wire_bytes: int
    runs_after: str  # where the guest runs afterwards: "b" (moved), "a" (stayed), or a problem
    detail: str = ""
    qemu_s: float | None = None  # QEMU's own migration time (libvirt's time_elapsed / QMP total-time)


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def aggregate(results: list[Result]) -> list[dict[str, Any]]:
    """One row per (profile, method): medians over the runs that finished, and how many did."""
    rows: list[dict[str, Any]] = []
    keys = list(dict.fromkeys((r.profile, r.method) for r in results))
    for profile, method in keys:
        runs = [r for r in results if (r.profile, r.method) == (profile, method)]
        ok = [r for r in runs if r.finished and r.total_s is not None]
        downs = [r.downtime_ms for r in ok if r.downtime_ms is not None]
        rows.append({
            "profile": profile, "method": method, "runs": len(runs), "finished": len(ok),
            "total_s": _median([r.total_s for r in ok]) if ok else None,  # type: ignore[misc]
            "total_range": (min(r.total_s for r in ok), max(r.total_s for r in ok)) if ok else None,  # type: ignore[type-var]
            "downtime_ms": _median(downs) if downs else None,
            "qemu_s": _median(qs) if (qs := [r.qemu_s for r in ok if r.qemu_s is not None]) else None,
            "wire_bytes": _median([r.wire_bytes for r in (ok or runs)]),
            "runs_after": ", ".join(sorted({r.runs_after for r in runs})),
            "detail": next((r.detail for r in reversed(runs) if r.detail), ""),
        })  # fmt: skip
    return rows


def table(results: list[Result], cap: float) -> str:
    lines = ["| profile | method | total (median, min-max) | QEMU's own time | downtime (median) | on the wire | "
             "runs finished | guest afterwards | notes (last run) |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in aggregate(results):
        if row["total_s"] is not None and row["finished"] == row["runs"]:
            lo, hi = row["total_range"]
            total = f"{row['total_s']:.2f} s ({lo:.2f}-{hi:.2f})" if row["runs"] > 1 else f"{row['total_s']:.2f} s"
        elif row["total_s"] is not None:
            total = f"{row['total_s']:.2f} s (only {row['finished']} of {row['runs']} finished)"
        else:
            total = f"did not finish in {cap:g} s"
        down = f"{row['downtime_ms']:.0f} ms" if row["downtime_ms"] is not None else "—"
        qemu = f"{row['qemu_s']:.2f} s" if row["qemu_s"] is not None else "—"
        where = ", ".join({"a": "runs on a", "b": "runs on b"}.get(w, w) for w in row["runs_after"].split(", "))
        lines.append(f"| {row['profile']} | {LABELS[row['method']]} | {total} | {qemu} | {down} | {row['wire_bytes'] / 1e6:.0f} MB "
                     f"| {row['finished']}/{row['runs']} | {where} | {row['detail']} |")  # fmt: skip
    return "\n".join(lines)


def ratios(results: list[Result]) -> str:
    """DWCP next to each baseline, per profile, from the medians (time ratios: machine-noise tolerant)."""
    rows = {(r["profile"], r["method"]): r for r in aggregate(results)}
    out = []
    for profile in dict.fromkeys(r.profile for r in results):
        for dm in DWCP_METHODS:
            d = rows.get((profile, dm))
            if d is None or d["total_s"] is None:
                continue
            parts = []
            for m in BASELINES:
                b = rows.get((profile, m))
                if b is None:
                    continue
                if b["total_s"] is None:
                    parts.append(f"{LABELS[m]}: did not finish")
                else:
                    parts.append(f"{LABELS[m]} {b['total_s']:.2f} s = {b['total_s'] / d['total_s']:.2f}x")
            out.append(f"- {profile}, {LABELS[dm]} {d['total_s']:.2f} s: " + "; ".join(parts))
    return "\n".join(out)


def write_readme(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head = "## Live migration"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + body + ("\n" + text[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text if text.endswith("\n") else text + "\n")


def report_from_json(args: argparse.Namespace) -> int:
    cells: dict[tuple[str, str], list[Result]] = {}
    dump: dict[str, Any] = {}
    for path in args.from_json:
        doc = json.loads(path.read_text())
        dump = doc["dump"]
        fresh: dict[tuple[str, str], list[Result]] = {}
        for r in doc["results"]:
            res = Result(**r)
            fresh.setdefault((res.profile, res.method), []).append(res)
        cells.update(fresh)
    order = {p: i for i, p in enumerate(PROFILES)} | {m: i for i, m in enumerate(LABELS)}
    results = [r for key in sorted(cells, key=lambda k: (order[k[0]], order[k[1]])) for r in cells[key]]
    emit(results, dump, args)
    return 0


def emit(results: list[Result], dump: dict[str, Any], args: argparse.Namespace) -> None:
    out = table(results, args.cap) + "\n\nBaseline time / DWCP time (> 1: DWCP faster):\n" + ratios(results)
    setup = (f"Guest: {args.memory} MiB, {args.wss} MiB working set rewritten at {args.rate} MiB/s; memory dump: "
             f"{dump['zero_fraction'] * 100:.0f}% zero pages, zstd-1 ratio {dump['zstd1_ratio']} "
             f"({dump['zstd1_ratio_nonzero']} over non-zero pages). QEMU {_qemu_version()}, TCG, 2 cores.")  # fmt: skip
    print(setup)
    print(out)
    if args.json:
        args.json.write_text(json.dumps({"dump": dump, "results": [asdict(r) for r in results]}, indent=2))
    if args.readme:
        body = (f"## Live migration\n\n`benchmarks/migration.py` ({time.strftime('%Y-%m-%d')}). {setup}\n\n{out}\n\n"
                + README_NOTES)  # fmt: skip
        write_readme(args.readme, body)


def _qemu_version() -> str:
    first = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return first.split("version")[-1].split("(")[0].strip()


README_NOTES = """\
Total: request to "the migration call returned, guest runs on b" (libvirt runs: virDomainMigrate3,
which also waits for the source QEMU to be torn down; DWCP: from sending the API request to the
migration's `finished_at`, stamped by the agent when the phase becomes completed, including the
agents' prepare round trips; same machine, same clock, and no polling delay). QEMU's own time: libvirt's time_elapsed (job start to
QEMU's completion, which includes starting the destination QEMU) or, over QMP, QEMU's total-time.
"multifd 4 + zstd / bbr" is driven by libvirt like the plain rows (libvirt 9.0 cannot select zstd:
the source QEMU is told over the monitor, the destination gets a -global, as the agent does);
"QEMU alone (QMP)" is the same method driven over QMP with both QEMUs already running and no return
path: none of libvirt's ~1.5-2 s of set-up and tear-down, and its downtime is QEMU's own
source-side figure. Downtime otherwise: libvirt's figure on the destination (source paused ->
destination resumed, network included).
On the wire: bytes host a sent on the link (TLS, framing and control traffic included).
Links: datacenter = veth, no shaping; internet = 50 ms RTT, 1 Gbit/s, 0.1 % loss; constrained =
50 ms RTT, 100 Mbit/s. Everything (two QEMUs, two agents, the link emulator) shares 2 cores.
"""
