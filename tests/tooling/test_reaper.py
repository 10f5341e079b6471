"""tests/tooling/reaper.py: orphans of the command are adopted and reaped at once; the command's
exit status and the signals sent to the reaper pass through."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

REAPER = Path(__file__).with_name("reaper.py")


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])  # state, parent pid


def test_an_orphan_is_adopted_and_reaped_while_the_command_runs(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    script = f"(sleep 0.5 & echo $! > {pidfile}); sleep 3"  # the subshell exits: sleep is orphaned
    proc = subprocess.Popen([sys.executable, str(REAPER), "sh", "-c", script])
    try:
        deadline = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "the orphan never started"
            time.sleep(0.02)
        orphan = int(pidfile.read_text())
        stat = _stat(orphan)
        assert stat is not None and stat[1] == proc.pid  # adopted by the reaper, not by pid 1
        time.sleep(1.0)  # the orphan ended 0.5 s ago; the command still runs
        assert proc.poll() is None
        assert _stat(orphan) is None  # reaped: gone, not a zombie
    finally:
        proc.kill()
        proc.wait(5)


def test_exit_status_and_signals_pass_through() -> None:
    assert subprocess.run([sys.executable, str(REAPER), "sh", "-c", "exit 7"]).returncode == 7
    proc = subprocess.Popen([sys.executable, str(REAPER), "sleep", "30"])
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 128 + signal.SIGTERM  # sleep died of the forwarded SIGTERM
    assert subprocess.run([sys.executable, str(REAPER)], capture_output=True).returncode == 2
