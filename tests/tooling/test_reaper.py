"""tests/tooling/reaper.py: orphans of the command are adopted and reaped at once; the command's
exit status and the signals sent to the reaper pass through."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.tooling.wait import until

REAPER = Path(__file__).with_name("reaper.py")


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])  # state, parent pid


def _catches(pid: int, sig: int) -> bool:
    """Whether `pid` has a handler installed for `sig` (the SigCgt mask in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def test_an_orphan_is_adopted_and_reaped_while_the_command_runs(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    script = f"(sleep 0.5 & echo $! > {pidfile}); sleep 3"  # the subshell exits: sleep is orphaned
    proc = subprocess.Popen([sys.executable, str(REAPER), "sh", "-c", script])
    try:
        until("the orphan's pid", lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=5)
        orphan = int(pidfile.read_text())
        stat = _stat(orphan)
        assert stat is not None and stat[1] == proc.pid  # adopted by the reaper, not by pid 1
        until("the orphan gone (reaped, not a zombie)", lambda: _stat(orphan) is None, timeout=5)
        assert proc.poll() is None  # ... while the command (sleep 3) still runs
    finally:
        proc.kill()
        proc.wait(5)


def test_exit_status_and_signals_pass_through() -> None:
    assert subprocess.run([sys.executable, str(REAPER), "sh", "-c", "exit 7"]).returncode == 7
    proc = subprocess.Popen([sys.executable, str(REAPER), "sleep", "30"])
    until("the reaper catching SIGTERM", lambda: _catches(proc.pid, signal.SIGTERM) and _children(proc.pid), timeout=5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 128 + signal.SIGTERM  # sleep died of the forwarded SIGTERM
    assert subprocess.run([sys.executable, str(REAPER)], capture_output=True).returncode == 2
