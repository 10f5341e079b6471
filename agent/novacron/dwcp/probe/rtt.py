"""RFC 6298 smoothed RTT and RTT variance, fed with samples from any source.

Sans-I/O: the caller measures (ping/pong, TCP_INFO, transfer acks) and hands the number in. The
RFC gains (alpha 1/8, beta 1/4) are the defaults; the mode detector uses a faster alpha so a real
step change in a link is seen within a handful of samples.
"""

from __future__ import annotations

import math

from novacron_sdk.errors import InvalidInput


class RttEstimator:
    """SRTT/RTTVAR/RTO per RFC 6298 section 2, in milliseconds."""

    def __init__(
        self,
        *,
        alpha: float = 0.125,
        beta: float = 0.25,
        k: float = 4.0,
        min_rto_ms: float = 200.0,
        max_rto_ms: float = 60_000.0,
    ) -> None:
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not 0.0 < value <= 1.0:
                raise InvalidInput(f"must be in (0, 1], got {value}", field=name)
        if min_rto_ms < 0 or max_rto_ms < min_rto_ms:
            raise InvalidInput("need 0 <= min_rto_ms <= max_rto_ms", field="min_rto_ms")
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.min_rto_ms = min_rto_ms
        self.max_rto_ms = max_rto_ms
        self.srtt_ms: float | None = None
        self.rttvar_ms: float | None = None
        self.samples = 0

    def on_sample(self, rtt_ms: float) -> float:
        """Fold one measurement in; returns the new SRTT."""
        if not math.isfinite(rtt_ms) or rtt_ms < 0:
            raise InvalidInput(f"must be a finite number >= 0, got {rtt_ms!r}", field="rtt_ms")
        if self.srtt_ms is None or self.rttvar_ms is None:
            # (2.2) first measurement R: SRTT <- R, RTTVAR <- R/2
            self.srtt_ms = rtt_ms
            self.rttvar_ms = rtt_ms / 2.0
        else:
            # (2.3) RTTVAR is updated with the *old* SRTT, then SRTT.
            self.rttvar_ms = (1 - self.beta) * self.rttvar_ms + self.beta * abs(self.srtt_ms - rtt_ms)
            self.srtt_ms = (1 - self.alpha) * self.srtt_ms + self.alpha * rtt_ms
        self.samples += 1
        return self.srtt_ms

    @property
    def rto_ms(self) -> float:
        """Retransmission timeout; 1 s before any sample (RFC 6298 2.1)."""
        if self.srtt_ms is None or self.rttvar_ms is None:
            return max(self.min_rto_ms, min(1000.0, self.max_rto_ms))
        rto = self.srtt_ms + max(0.001, self.k * self.rttvar_ms)
        return min(self.max_rto_ms, max(self.min_rto_ms, rto))

    def reset(self) -> None:
        self.srtt_ms = None
        self.rttvar_ms = None
        self.samples = 0


class RecentMin:
    """Minimum of the last `window` RTT samples (a short form of BBR's min_rtt filter).

    Application-level pings also time both hosts' scheduling: a busy event loop or a descheduled
    process adds tens of milliseconds that are not the path's. The path's delay is a floor that
    such noise only ever adds to, so the minimum of a few recent pings measures it; a real rise
    shows after `window` samples, a fall at once.
    """

    def __init__(self, window: int = 3) -> None:
        if not isinstance(window, int) or window < 1:
            raise InvalidInput(f"must be an integer >= 1, got {window!r}", field="window")
        self._window = window
        self._recent: list[float] = []

    @property
    def window(self) -> int:
        return self._window

    def on_sample(self, rtt_ms: float) -> float:
        if not math.isfinite(rtt_ms) or rtt_ms < 0:
            raise InvalidInput(f"must be a finite number >= 0, got {rtt_ms!r}", field="rtt_ms")
        self._recent.append(rtt_ms)
        del self._recent[: -self._window]
        return min(self._recent)

    @property
    def value(self) -> float | None:
        return min(self._recent) if self._recent else None

    def reset(self) -> None:
        self._recent.clear()
