"""Temporarily widening a machine-wide list sysctl, shared safely between test beds.

Why: a namespace may only select TCP congestion control "cubic" if the *global*
net.ipv4.tcp_allowed_congestion_control lists it (that sysctl is not per-namespace, and is
read-only inside namespaces). Several test beds -- in one process or in parallel processes --
may need it at once, and the original value must come back when the last one is done, even
after a run crashed. So holders are recorded (pid + token) in a shared state file; the
original value is written back when no live holder remains.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from ._state import live_users, locked_state


def _path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> str:
    """The current value of a sysctl (in the caller's network namespace)."""
    return _path(name).read_text().strip()


class ListSysctlHold:
    """Keeps ``words`` in the space-separated global sysctl ``name`` until release()."""

    def __init__(self, name: str, words: Sequence[str]) -> None:
        self.name = name
        self.words = list(words)
        self.token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held = False

    def acquire(self) -> None:
        with locked_state(f"sysctl-{self.name}") as state:
            current = read_sysctl(self.name)
            live = live_users(state.get("holders", []))
            original = state.get("original", current)
            # With no live holder, a crashed run may have left its value: start from the original.
            wanted = original.split() if not live else current.split()
            wanted += [w for w in self.words if w not in wanted]
            if wanted != current.split():
                _path(self.name).write_text(" ".join(wanted))
            state.update(original=original, holders=[*live, self.token])
        self._held = True

    def release(self) -> None:
        """Drops this hold; the last live holder writes the original value back. Idempotent."""
        if not self._held:
            return
        with locked_state(f"sysctl-{self.name}") as state:
            live = [h for h in live_users(state.get("holders", [])) if h != self.token]
            if live:
                state["holders"] = live
            else:
                if "original" in state and read_sysctl(self.name) != state["original"]:
                    _path(self.name).write_text(state["original"])
                state.clear()
        self._held = False
