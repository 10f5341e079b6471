"""`novacron migrate VM NODE`: find where the VM runs, ask that agent to move it, show a progress bar.

Speaks HTTP through novacron_sdk.client only (a face, not agent internals); waits with the SDK's
`wait_migration`, the rule every face waits by.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

BAR = 30
WAIT_BEYOND_TIMEOUT_S = 120.0  # the agent rolls back after the migration's timeout_s; then it answers


def register_cli(sub: Any) -> None:
    p = sub.add_parser("migrate", help="move a running VM to another node over DWCP (live)")
    p.add_argument("vm", help="VM name")
    p.add_argument("node", help="node_id of the destination")
    p.add_argument("--url", default=os.environ.get("NOVACRON_URL", "http://127.0.0.1:8080"),
                   help="any agent of the cluster (it finds the VM's owner); env NOVACRON_URL")
    p.add_argument("--token", default=os.environ.get("NOVACRON_TOKEN"), help="bearer token; env NOVACRON_TOKEN")
    p.add_argument("--ca-cert", default=None)
    p.add_argument("--max-downtime-ms", type=int, default=None)
    p.add_argument("--bandwidth-limit-mbps", type=int, default=None)
    p.add_argument("--streams", type=int, default=None, help="fixed AMST stream count (default: adaptive)")
    p.add_argument("--compression", choices=["auto", "zstd", "lz4", "none"], default=None)
    p.add_argument("--multifd", type=int, default=None, metavar="N", help="QEMU multifd channels (0: off; default: DWCP decides per link)")
    p.add_argument("--offline", action="store_true", help="pause the VM for the transfer (not live)")
    p.add_argument("--dry-run", action="store_true", help="validate and predict; move nothing")
    p.add_argument("--no-wait", action="store_true", help="return once the migration started")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request")
    p.set_defaults(func=_cmd_migrate)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "max_downtime_ms": args.max_downtime_ms,
        "bandwidth_limit_mbps": args.bandwidth_limit_mbps,
        "streams": args.streams,
        "compression": args.compression,
        "multifd_channels": args.multifd,
    }
    if args.offline:
        opts["live"] = False
    return {k: v for k, v in opts.items() if v is not None}


def _cmd_migrate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from novacron_sdk.client import ApiError, MigrationError, NovacronClient
    from novacron_sdk.models.migration import MigrationRequest

    try:
        request = MigrationRequest.model_validate({"vm": args.vm, "destination": args.node, "options": _options(args)})
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"novacron migrate: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        with NovacronClient(args.url, args.token, ca_cert=args.ca_cert, timeout=args.timeout) as entry:
            where = entry.locate_vm(args.vm)
        if where["node"] == args.node:
            print(f"{args.vm} already runs on {args.node}")
            return 0
        with NovacronClient(where["api_url"], args.token, ca_cert=args.ca_cert, timeout=args.timeout) as owner:
            mig = owner.create_migration(request, dry_run=args.dry_run)
            if args.dry_run:
                print(f"would move {args.vm} from {mig.source} to {mig.destination}, "
                      f"predicted {mig.predicted_duration_s:.1f} s")
                return 0
            print(f"migration {mig.id}: {args.vm} {mig.source} -> {mig.destination}")
            if args.no_wait:
                return 0
            deadline = time.monotonic() + mig.options.timeout_s + WAIT_BEYOND_TIMEOUT_S
            mig = owner.wait_migration(mig.id, deadline, _progress)
    except MigrationError as exc:
        _draw(sys.stdout, exc.migration, final=True)
        print(f"novacron migrate: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:
        where_ = f" ({exc.field})" if exc.field else ""
        print(f"novacron migrate: {exc}{where_}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted: the migration goes on (cancel it with DELETE /api/v1/migrations/ID)")
        return 130
    _draw(sys.stdout, mig, final=True)
    p = mig.progress
    down = f", downtime {p.downtime_ms:.0f} ms" if p.downtime_ms is not None else ""
    print(f"{args.vm} now runs on {mig.destination}: {p.elapsed_s:.1f} s, {p.bytes_on_wire / 1e6:.1f} MB on the "
          f"wire (ratio {p.compression_ratio:.2f}){down}")
    return 0


def _progress(mig: Any) -> None:
    """A line per poll while the migration runs (its final state is drawn once, after the wait)."""
    from novacron_sdk.client import MIGRATION_FINAL

    if mig.phase not in MIGRATION_FINAL:
        _draw(sys.stdout, mig)


def _draw(out: TextIO, mig: Any, *, final: bool = False) -> None:
    p = mig.progress
    done = 1.0 if mig.phase == "completed" else (
        (p.bytes_total - p.bytes_remaining) / p.bytes_total if p.bytes_total else 0.0)
    filled = int(BAR * max(0.0, min(1.0, done)))
    eta = f" ETA {p.eta_s:.0f}s" if p.eta_s is not None and not final else ""
    line = (f"[{'#' * filled}{'.' * (BAR - filled)}] {done * 100:5.1f}% {mig.phase:<12} "
            f"{p.bytes_sent / 1e6:8.1f} MB in, {p.bytes_on_wire / 1e6:8.1f} MB wire, x{p.compression_ratio:.2f}, "
            f"{p.throughput_bps / 1e6:7.1f} Mbit/s{eta}")
    end = "\n" if final or not out.isatty() else "\r"
    out.write(line + end)
    out.flush()
