"""Captures a real QEMU pre-copy migration stream of the test guest into a file.

Why: HDE's QEMU framing (agent/novacron/dwcp/hde/qemu_records.py) is written from QEMU's source;
a capture of what this machine's QEMU really sends is the check that it reads the real thing, and
real input for benchmarks/hde_qemu.py. The guest boots straight under QEMU (no libvirt), fills and
keeps rewriting its working set, and QMP `migrate` writes the stream to a file (`file:` URI: the
plain main stream, no multifd, no mapped-ram), bandwidth-capped so the guest dirties pages while
the first pass runs and the stream holds rewrite passes too.

    path = capture_precopy(image, workdir / "precopy.stream")
"""

from __future__ import annotations

import time
from pathlib import Path

from ._cmd import ToolingError
from .cache import default_cache_dir
from .guest import GuestImage, guest_memory_mib, kernel_cmdline
from .qemu_direct import DirectGuest


def cached_capture() -> Path:
    """Where the tooling test leaves its capture for benchmarks/hde_qemu.py (may not exist)."""
    return default_cache_dir() / "qemu-precopy.stream"


def capture_precopy(
    image: GuestImage,
    dest: Path,
    *,
    wss_mb: int = 32,
    rate_mbps: int = 20,
    memory_mib: int = 256,
    bandwidth: int = 96 << 20,
    timeout: float = 60.0,
) -> dict:
    """Boot the guest, migrate it to `dest`; returns QEMU's final `query-migrate` answer."""
    if memory_mib < guest_memory_mib(wss_mb):
        raise ValueError(f"memory_mib: {memory_mib} MiB is too small for a {wss_mb} MiB working set")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    workdir = dest.parent / f"{dest.name}.qemu"
    with DirectGuest(image, workdir, memory_mib=memory_mib, cmdline=kernel_cmdline(wss_mb, rate_mbps)) as g:
        g.serial.wait_for(r"^READY", timeout=timeout)
        g.serial.wait_for_heartbeat_after(0, timeout=timeout)  # rewriting has started
        g.qmp("migrate-set-parameters", **{"max-bandwidth": bandwidth, "downtime-limit": 300})
        g.qmp("migrate", uri=f"file:{dest}")
        deadline = time.monotonic() + timeout
        while True:
            info = g.qmp("query-migrate")
            if info.get("status") == "completed":
                return info
            if info.get("status") in ("failed", "cancelled") or time.monotonic() > deadline:
                raise ToolingError(f"migration to {dest} did not complete: {info}")
            time.sleep(0.1)
