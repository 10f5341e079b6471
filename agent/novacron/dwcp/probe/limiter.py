"""Token bucket (sans-I/O): how the probe endpoint keeps strangers from using it as a pump.

`delay(now, cost)` takes `cost` tokens and returns how long the caller must wait before acting;
the endpoint pauses reading for that long, so a flood of pings is answered at `rate` per second
at most, and TCP back-pressure slows the flooder instead of the agent buffering for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from novacron_sdk.errors import InvalidInput


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    _tokens: float = field(init=False)
    _at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        for name in ("rate", "capacity"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidInput(f"must be a finite number > 0, got {value!r}", field=name)
        self._tokens = float(self.capacity)

    def delay(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens (going into debt if needed); seconds until the debt is paid."""
        if self._at is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
