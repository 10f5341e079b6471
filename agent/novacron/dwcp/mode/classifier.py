"""Which kind of link is this: a pure function of RTT and bandwidth.

Rules (issue text): datacenter when RTT < dc_rtt_ms AND bandwidth > dc_bw_mbps; internet when
RTT > inet_rtt_ms OR bandwidth < inet_bw_mbps; hybrid otherwise. Internet is tested first, so
where the rules overlap the slower class wins. With no bandwidth measurement yet the decision
uses RTT alone (a fast, short link is assumed datacenter until a transfer says otherwise).

Hysteresis lives here too, as `Thresholds.biased_toward`: thresholds widened in favour of the
current mode, so a value hovering on a boundary does not flip the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeName

MODES: tuple[ModeName, ...] = ("datacenter", "hybrid", "internet")


@dataclass(frozen=True)
class Thresholds:
    dc_rtt_ms: float = 10.0
    dc_bw_mbps: float = 1000.0
    inet_rtt_ms: float = 50.0
    inet_bw_mbps: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("dc_rtt_ms", "dc_bw_mbps", "inet_rtt_ms", "inet_bw_mbps"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidInput(f"must be a finite number > 0, got {value!r}", field=f"thresholds.{name}")
        if self.dc_rtt_ms > self.inet_rtt_ms:
            raise InvalidInput(
                f"dc_rtt_ms ({self.dc_rtt_ms}) must be <= inet_rtt_ms ({self.inet_rtt_ms})",
                field="thresholds.dc_rtt_ms",
            )
        if self.dc_bw_mbps < self.inet_bw_mbps:
            raise InvalidInput(
                f"dc_bw_mbps ({self.dc_bw_mbps}) must be >= inet_bw_mbps ({self.inet_bw_mbps})",
                field="thresholds.dc_bw_mbps",
            )

    def biased_toward(self, mode: ModeName | None, margin: float) -> Thresholds:
        """Thresholds that make leaving `mode` need `margin` (e.g. 0.2 = 20%) more evidence.

        Datacenter: dc limits loosened, internet limits pushed away. Internet: the reverse.
        Hybrid: both extremes pushed away. The dc/inet ordering invariants still hold.
        """
        if mode is None or margin == 0:
            return self
        up, down = 1.0 + margin, 1.0 - margin
        if mode == "datacenter":
            f_dc_rtt, f_dc_bw, f_in_rtt, f_in_bw = up, down, up, down
        elif mode == "internet":
            f_dc_rtt, f_dc_bw, f_in_rtt, f_in_bw = down, up, down, up
        else:
            f_dc_rtt, f_dc_bw, f_in_rtt, f_in_bw = down, up, up, down
        return Thresholds(
            dc_rtt_ms=self.dc_rtt_ms * f_dc_rtt,
            dc_bw_mbps=self.dc_bw_mbps * f_dc_bw,
            inet_rtt_ms=max(self.inet_rtt_ms * f_in_rtt, self.dc_rtt_ms * f_dc_rtt),
            inet_bw_mbps=min(self.inet_bw_mbps * f_in_bw, self.dc_bw_mbps * f_dc_bw),
        )


DEFAULT_THRESHOLDS = Thresholds()


def classify(rtt_ms: float, bw_mbps: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> ModeName:
    """The mode one measurement implies (no memory; see ModeDetector for that)."""
    if not math.isfinite(rtt_ms) or rtt_ms < 0:
        raise InvalidInput(f"must be a finite number >= 0, got {rtt_ms!r}", field="rtt_ms")
    if bw_mbps is not None and (not math.isfinite(bw_mbps) or bw_mbps < 0):
        raise InvalidInput(f"must be a finite number >= 0 or null, got {bw_mbps!r}", field="bw_mbps")
    if rtt_ms > thresholds.inet_rtt_ms or (bw_mbps is not None and bw_mbps < thresholds.inet_bw_mbps):
        return "internet"
    if rtt_ms < thresholds.dc_rtt_ms and (bw_mbps is None or bw_mbps > thresholds.dc_bw_mbps):
        return "datacenter"
    return "hybrid"


def combine(peer_modes: list[ModeName], fallback: ModeName = "datacenter") -> ModeName:
    """The node's mode from its peers': all alike -> that mode; mixed -> hybrid; none -> fallback."""
    distinct = set(peer_modes)
    if not distinct:
        return fallback
    if len(distinct) == 1:
        return next(iter(distinct))
    return "hybrid"
