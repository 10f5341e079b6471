"""Temporarily widening a machine-wide list sysctl, shared safely between test beds.

Why: a namespace may only select TCP congestion control "cubic" if the *global*
net.ipv4.tcp_allowed_congestion_control lists it (that sysctl is not per-namespace, and is
read-only inside namespaces). Several test beds -- in one process or in parallel processes --
may need it at once, and the original value must come back when the last one is done, even
after a run crashed. So holders are recorded (pid + token) in a state file under a lock; the
original value is written back when no live holder remains.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_DIR = Path("/run/novacron-testbed")


def _path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> str:
    """The current value of a sysctl (in the caller's network namespace)."""
    return _path(name).read_text().strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ListSysctlHold:
    """Keeps ``words`` in the space-separated global sysctl ``name`` until release()."""

    def __init__(self, name: str, words: list[str] | tuple[str, ...]) -> None:
        self.name = name
        self.words = list(words)
        self.token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._state = STATE_DIR / f"{name}.json"
        self._held = False

    def acquire(self) -> None:
        with self._locked() as state:
            current = read_sysctl(self.name)
            live = [h for h in state.get("holders", []) if _alive(int(h.split(":")[0]))]
            original = state.get("original", current)
            wanted = current.split()
            if not live and "original" in state:
                wanted = original.split()  # a crashed run left its value: start from the original
            wanted += [w for w in self.words if w not in wanted]
            if wanted != current.split():
                _path(self.name).write_text(" ".join(wanted))
            state.update(original=original, holders=[*live, self.token])
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        with self._locked() as state:
            live = [h for h in state.get("holders", []) if h != self.token and _alive(int(h.split(":")[0]))]
            if live:
                state["holders"] = live
            else:
                if "original" in state and read_sysctl(self.name) != state["original"]:
                    _path(self.name).write_text(state["original"])
                state.clear()
        self._held = False

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The shared state, read and written back under an exclusive file lock."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        with open(STATE_DIR / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state: dict[str, Any] = json.loads(self._state.read_text())
            except (OSError, ValueError):
                state = {}
            try:
                yield state
            finally:
                if state:
                    self._state.write_text(json.dumps(state))
                else:
                    self._state.unlink(missing_ok=True)
