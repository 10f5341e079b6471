"""A tiny bootable test guest: Debian cloud kernel + busybox initramfs + a memory workload.

Why: migration and lifecycle tests need a real guest that boots in seconds under TCG, keeps
dirtying memory with realistic content at a chosen rate, and says on its serial console that it
is alive (READY, then ``HEARTBEAT <counter> <uptime>`` every ~200 ms) and that its memory is
intact (``CORRUPTION`` lines otherwise). Nothing is downloaded at test time except, on a fresh
machine, the kernel package from Debian's apt mirror; everything is cached in ``cache_dir``.

    image = build_guest()                      # GuestImage(kernel=..., initrd=...)
    cmdline = kernel_cmdline(wss_mb=256, rate_mbps=30)
    # libvirt: <kernel>{image.kernel}</kernel><initrd>{image.initrd}</initrd><cmdline>{cmdline}</cmdline>
    # memory: at least guest_memory_mib(256)

Guest facts: the console is ttyS0 (``console=ttyS0`` is in the command line); the ACPI power
button (QEMU ``system_powerdown``, ``virsh shutdown --mode acpi``) makes it power off cleanly
via busybox acpid; SIGTERM/SIGPWR/SIGUSR1 to PID 1 do the same.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._cmd import ToolingError, missing_tools, run
from .cache import default_cache_dir
from .guest_kernel import fetch_kernel
from .serial_log import SerialLog

__all__ = [
    "DEFAULT_MODULES",
    "GuestImage",
    "SerialLog",
    "build_guest",
    "default_cache_dir",
    "guest_image_dirs",
    "guest_memory_mib",
    "guest_skip_reason",
    "kernel_cmdline",
]

SRC = Path(__file__).resolve().parent / "guest_src"
BUSYBOX = Path("/bin/busybox")
FORMAT = "novacron-guest-3"  # bump when the initramfs layout changes, to invalidate caches
# ACPI power button (+ its input device), and virtio so tests may attach disks/NICs/balloon.
DEFAULT_MODULES: tuple[str, ...] = (
    "evdev",
    "button",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_balloon",
)
# Text that seeds the working set next to busybox and the workload binary themselves.
TEXT_CORPUS: tuple[str, ...] = (
    "/usr/share/common-licenses/GPL-3",
    "/usr/share/common-licenses/Apache-2.0",
    "/usr/share/common-licenses/MPL-2.0",
    "/etc/services",
)


@dataclass(frozen=True)
class GuestImage:
    """Paths of a built guest: boot it with ``-kernel kernel -initrd initrd -append <cmdline>``."""

    kernel: Path
    initrd: Path
    kernel_version: str

    def qemu_args(self, cmdline: str) -> list[str]:
        """The QEMU arguments for a direct kernel boot of this image."""
        return ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", cmdline]


def kernel_cmdline(
    wss_mb: int = 64,
    rate_mbps: int = 10,
    *,
    heartbeat_ms: int = 200,
    mutate_bytes: int = 64,
    extra: Sequence[str] = (),
) -> str:
    """The guest kernel command line.

    wss_mb: working-set size in MiB (the guest needs guest_memory_mib(wss_mb) of RAM).
    rate_mbps: MiB of the working set rewritten per second (a page dirty rate; 0 = idle guest
      that only prints heartbeats).
    heartbeat_ms: period of the HEARTBEAT serial lines.
    mutate_bytes: bytes changed by a small in-place page edit (1 in 8 rewrites replaces the page).
    """
    _positive("wss_mb", wss_mb, minimum=1)
    _positive("rate_mbps", rate_mbps, minimum=0)
    _positive("heartbeat_ms", heartbeat_ms, minimum=10)
    _positive("mutate_bytes", mutate_bytes, minimum=8)
    if mutate_bytes > 4096:
        raise ValueError(f"mutate_bytes: must be <= 4096 (one page), got {mutate_bytes}")
    for item in extra:
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise ValueError(f"extra: each item must be one non-empty token without spaces, got {item!r}")
    parts = [
        "console=ttyS0,115200",
        "panic=-1",
        "mitigations=off",
        f"novacron.wss_mb={wss_mb}",
        f"novacron.rate_mbps={rate_mbps}",
        f"novacron.heartbeat_ms={heartbeat_ms}",
        f"novacron.mutate_bytes={mutate_bytes}",
        *extra,
    ]
    return " ".join(parts)


def guest_memory_mib(wss_mb: int) -> int:
    """Smallest sensible guest RAM for a working set: the set, its checksums, kernel and initramfs."""
    _positive("wss_mb", wss_mb, minimum=1)
    return wss_mb + wss_mb // 256 + 160


def guest_image_dirs(cache_dir: Path | str | None = None) -> list[str]:
    """An agent's ``hypervisor.image_dirs`` for this guest: the cache its kernel and initrd live in
    (an agent refuses kernels and initrds outside its image roots)."""
    return [str(Path(cache_dir) if cache_dir is not None else default_cache_dir())]


def guest_skip_reason() -> str | None:
    """Why the test guest cannot be built here (or None): missing build tools or busybox-static."""
    if missing := missing_tools("gcc", "cpio", "dpkg-deb", "apt-get"):
        return f"building the test guest needs {', '.join(missing)}"
    if not BUSYBOX.exists() or _is_dynamic(BUSYBOX):
        return f"{BUSYBOX} is not the static busybox (apt-get install busybox-static)"
    return None


def build_guest(
    cache_dir: Path | str | None = None,
    *,
    modules: Sequence[str] = DEFAULT_MODULES,
    kernel_package: str | None = None,
) -> GuestImage:
    """Builds (or reuses from ``cache_dir``) the guest kernel and initramfs.

    Idempotent and safe to call from parallel test processes (a lock file serialises builds);
    the initramfs is rebuilt only when its inputs (sources, busybox, kernel, modules) change.
    """
    if missing := missing_tools("gcc", "cpio", "dpkg-deb"):
        raise ToolingError(
            f"building the test guest needs {', '.join(missing)} (apt-get install gcc cpio dpkg)"
        )
    if not BUSYBOX.exists() or _is_dynamic(BUSYBOX):
        raise ToolingError(f"{BUSYBOX} must be the static busybox (apt-get install busybox-static)")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):
        kernel = fetch_kernel(cache, modules, kernel_package)
        key = _initrd_key(kernel.version, [m.name for m in kernel.modules])
        initrd = cache / f"initrd-{key}.img.gz"
        if not initrd.exists():
            _build_initrd(initrd, kernel.config, kernel.modules)
    return GuestImage(kernel=kernel.vmlinuz, initrd=initrd, kernel_version=kernel.version)


def _positive(field: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field}: must be >= {minimum}, got {value}")


def _is_dynamic(binary: Path) -> bool:
    """A dynamically linked ELF has a PT_INTERP segment; busybox-static has none."""
    out = run(["readelf", "-l", str(binary)], check=False) if not missing_tools("readelf") else None
    return bool(out and "INTERP" in out.stdout)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _initrd_key(kernel_version: str, module_files: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (FORMAT, kernel_version, *module_files):
        h.update(part.encode() + b"\0")
    for path in sorted(SRC.rglob("*")) + [BUSYBOX] + [Path(p) for p in TEXT_CORPUS]:
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _build_initrd(dest: Path, kernel_config: Path, modules: Sequence[Path]) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".build-") as tmp:
        root = Path(tmp) / "root"
        for d in (
            "bin",
            "sbin",
            "etc/acpi/PWRF",
            "lib/modules",
            "corpus",
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
        ):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        _install(SRC / "init", root / "init", 0o755)
        _install(SRC / "acpi_power", root / "etc" / "acpi" / "PWRF" / "00000080", 0o755)
        run(
            ["gcc", "-static", "-O2", "-Wall", "-o", str(root / "sbin" / "wss"), str(SRC / "wss.c")],
            timeout=300,
        )
        for ko in modules:
            shutil.copy2(ko, root / "lib" / "modules" / ko.name)
        (root / "etc" / "modules.order").write_text("".join(ko.stem + "\n" for ko in modules))
        # Realistic text for the working set: licences, the kernel config, our own sources.
        for src in [*map(Path, TEXT_CORPUS), kernel_config, SRC / "wss.c", SRC / "init"]:
            if src.is_file():
                shutil.copy2(src, root / "corpus" / src.name)
        if os.geteuid() == 0:  # lets the kernel give init a console before devtmpfs is mounted
            os.mknod(root / "dev" / "console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        proc = subprocess.run(
            ["cpio", "--create", "--format=newc", "--owner=0:0", "--quiet"],
            input=("\n".join([".", *names]) + "\n").encode(),
            cwd=root,
            capture_output=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise ToolingError(f"cpio failed: {proc.stderr.decode(errors='replace').strip()}")
        archive = proc.stdout
        partial = Path(tmp) / "initrd.gz"
        with gzip.GzipFile(partial, "wb", compresslevel=6, mtime=0) as gz:
            gz.write(archive)
        partial.replace(dest)


def _install(src: Path, dest: Path, mode: int) -> None:
    shutil.copyfile(src, dest)
    os.chmod(dest, mode)
