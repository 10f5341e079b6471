"""Reading a test guest's serial console log (a file QEMU/libvirt appends to).

Why a file and not a socket: libvirt's ``<serial type='file'>`` and QEMU's ``-serial file:``
keep the whole history across a migration hand-over (each side appends to its own file), and a
test can read it at any time without holding a connection.

    log = SerialLog(path)
    log.wait_for(r"^READY", timeout=60)
    before = log.last_heartbeat()
    ... migrate ...
    log.wait_for_heartbeat_after(before.counter, timeout=30, log=dest_log)
    assert not log.kernel_errors() and not log.corruption()
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT_RE = re.compile(r"^HEARTBEAT (\d+) ([0-9.]+)(?: dirtied_mb=(\d+))?(?: corrupt=(\d+))?", re.M)
# What a kernel prints when it breaks (also re-printed by the guest as "KERNEL-ERROR ...").
KERNEL_ERROR_RE = re.compile(r"Oops|BUG:|Kernel panic|general protection fault")
CORRUPTION_RE = re.compile(r"^CORRUPTION .*$", re.M)


class SerialTimeout(AssertionError):
    """The awaited text did not appear in time; the message carries the log's tail."""


@dataclass(frozen=True)
class Heartbeat:
    """One ``HEARTBEAT <counter> <uptime>`` line (plus the workload's own counters)."""

    counter: int
    uptime: float
    dirtied_mb: int | None
    corrupt: int | None


class SerialLog:
    """A guest's serial log file; tolerant of the file not existing yet and of partial lines."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def text(self) -> str:
        """The whole log so far ('' if the file does not exist yet). Undecodable bytes are replaced."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines, for error messages."""
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float = 60.0, *, poll: float = 0.1
    ) -> re.Match[str]:
        """Waits until ``pattern`` (a regex, MULTILINE) matches the log; returns the match.

        Raises SerialTimeout with the log tail if it does not appear within ``timeout`` seconds,
        and fails early if the guest kernel oopses or panics meanwhile.
        """
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            match = regex.search(text)
            if match:
                return match
            err = KERNEL_ERROR_RE.search(text)
            if err:
                raise SerialTimeout(
                    f"guest kernel error while waiting for {regex.pattern!r}: {self.tail(40)}"
                )
            if time.monotonic() >= deadline:
                raise SerialTimeout(
                    f"{regex.pattern!r} not in {self.path} after {timeout}s; last lines:\n{self.tail()}"
                )
            time.sleep(poll)

    def heartbeats(self) -> list[Heartbeat]:
        """All complete heartbeat lines so far, in log order."""
        text = self.text()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # ignore a line still being written
        return [
            Heartbeat(
                counter=int(m.group(1)),
                uptime=float(m.group(2)),
                dirtied_mb=int(m.group(3)) if m.group(3) is not None else None,
                corrupt=int(m.group(4)) if m.group(4) is not None else None,
            )
            for m in HEARTBEAT_RE.finditer(text)
        ]

    def last_heartbeat(self) -> Heartbeat | None:
        """The newest heartbeat, or None before the first."""
        beats = self.heartbeats()
        return beats[-1] if beats else None

    def heartbeat_count(self) -> int:
        """The newest heartbeat counter (-1 before the first); grows by one per heartbeat."""
        last = self.last_heartbeat()
        return last.counter if last else -1

    def wait_for_heartbeat_after(self, counter: int, timeout: float = 30.0) -> Heartbeat:
        """Waits for a heartbeat whose counter is greater than ``counter`` (proof the guest runs on)."""
        deadline = time.monotonic() + timeout
        while True:
            last = self.last_heartbeat()
            if last is not None and last.counter > counter:
                return last
            if KERNEL_ERROR_RE.search(self.text()):
                raise SerialTimeout(f"guest kernel error while waiting for heartbeats: {self.tail(40)}")
            if time.monotonic() >= deadline:
                raise SerialTimeout(
                    f"no heartbeat after #{counter} in {self.path} within {timeout}s:\n{self.tail()}"
                )
            time.sleep(0.1)

    def kernel_errors(self) -> list[str]:
        """Log lines that show a kernel oops, BUG or panic."""
        return [line for line in self.text().splitlines() if KERNEL_ERROR_RE.search(line)]

    def corruption(self) -> list[str]:
        """CORRUPTION lines: pages whose content changed behind the workload's back."""
        return CORRUPTION_RE.findall(self.text())
