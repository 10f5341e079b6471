"""Small JSON state files shared by test processes on one machine, under an exclusive lock.

Why: machine-wide things (a global sysctl, the system libvirtd) may be used by several test
processes at once; each records itself as a user (its pid), and the last live user restores or
stops what the tooling changed or started -- even when an earlier user crashed.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_DIR = Path("/run/novacron-testbed")


@contextmanager
def locked_state(name: str) -> Iterator[dict[str, Any]]:
    """The state ``name`` (a dict, {} if new), written back on exit; an empty dict deletes it."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = STATE_DIR / f"{name}.json"
    with open(STATE_DIR / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        try:
            yield state
        finally:
            if state:
                path.write_text(json.dumps(state))
            else:
                path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def live_users(users: list[Any]) -> list[Any]:
    """Entries "pid" or "pid:token" whose pid is still alive."""
    return [u for u in users if pid_alive(int(str(u).split(":")[0]))]
