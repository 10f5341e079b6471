"""Time budgets from the engine (`timeout` on Create/Update/Delete) and the Cancel signal.

Every wait polls through a `Deadline`, so a custom timeout or a Ctrl-C in `pulumi up` ends the
wait at the next poll with a message that says what it was still waiting for.
"""

from __future__ import annotations

import threading
import time

DEFAULT_TIMEOUT_S = 1200.0  # Pulumi's customTimeouts are optional; 20 min fits a migration
PROBE_TIMEOUT_S = 15.0  # after a failure: one look at where the VM got to


class Expired(Exception):
    pass


class Cancelled(Exception):
    pass


class Deadline:
    def __init__(self, timeout_s: float, cancel: threading.Event) -> None:
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else DEFAULT_TIMEOUT_S
        self._end = time.monotonic() + self.timeout_s
        self._cancel = cancel

    @property
    def end(self) -> float:
        """The `time.monotonic()` instant the budget runs out."""
        return self._end

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once on Cancel (a poll's pause)."""
        self._cancel.wait(min(seconds, self.remaining()))

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def http_timeout(self) -> float:
        """Budget for one request: what is left, but never zero (the request must be able to fail)."""
        return max(0.5, self.remaining())

    def check(self, waiting_for: str) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"cancelled while {waiting_for}")
        if self.remaining() <= 0:
            raise Expired(f"timed out after {self.timeout_s:g}s {waiting_for}")

    def sleep(self, seconds: float, waiting_for: str) -> None:
        self.check(waiting_for)
        self._cancel.wait(min(seconds, self.remaining()))
        self.check(waiting_for)
