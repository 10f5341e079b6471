"""Booting the test guest straight under QEMU (no libvirt), with a QMP socket.

Why: to check the guest itself (and the machine's QEMU) independently of libvirt, and for tests
that need a bare QEMU. TCG by default: /dev/kvm here belongs to a nested mode that cannot run
the guest (see machine-facts.md).

    with DirectGuest(image, tmp_path, memory_mib=256, cmdline=kernel_cmdline(32, 10)) as g:
        g.serial.wait_for("^READY", 60)
        g.qmp("system_powerdown")
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from ._cmd import ToolingError
from .guest import GuestImage, kernel_cmdline
from .serial_log import SerialLog


class DirectGuest:
    """One QEMU process running the test guest; serial console to ``workdir/serial.log``."""

    def __init__(
        self,
        image: GuestImage,
        workdir: Path | str,
        *,
        memory_mib: int = 256,
        cmdline: str | None = None,
        accel: str = "tcg",
        qemu: str = "qemu-system-x86_64",
    ) -> None:
        self.workdir = Path(workdir)
        self.serial_path = self.workdir / "serial.log"
        self.qmp_path = self.workdir / "qmp.sock"
        self.serial = SerialLog(self.serial_path)
        self.cmd = [
            qemu, "-accel", accel, "-m", str(memory_mib), "-smp", "1",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", f"file:{self.serial_path}",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            *image.qemu_args(cmdline or kernel_cmdline()),
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in (self.serial_path, self.qmp_path):
            stale.unlink(missing_ok=True)
        self._proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def qmp(self, command: str, timeout: float = 10.0, **arguments: Any) -> Any:
        """Runs one QMP command on a fresh connection; returns its "return" value."""
        deadline = time.monotonic() + timeout
        while not self.qmp_path.exists():
            if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                raise ToolingError(f"QEMU QMP socket {self.qmp_path} never appeared")
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.qmp_path))
            stream = sock.makefile("rw")
            stream.readline()  # greeting

            def call(cmd: str, args: dict[str, Any] | None = None) -> Any:
                stream.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "error" in reply:
                        raise ToolingError(f"QMP {cmd} failed: {reply['error']}")
                    if "return" in reply:
                        return reply["return"]

            call("qmp_capabilities")
            return call(command, arguments)

    def wait(self, timeout: float) -> int | None:
        """Waits for QEMU to exit; returns its exit code, or None if still running."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kills QEMU (idempotent)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(10)
            if self._proc.stderr:
                self._proc.stderr.close()
        with contextlib.suppress(FileNotFoundError):
            self.qmp_path.unlink()

    def __enter__(self) -> DirectGuest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
