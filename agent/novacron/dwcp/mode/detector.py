"""Per-peer and node-wide mode detection: samples in, decisions out (sans-I/O).

Three guards keep a noisy link from flapping: inputs are EWMA-smoothed (RTT via the RFC 6298
estimator with a faster gain, bandwidth and loss by plain EWMA; two bandwidth samples in a row 4x
away on the same side are a new level and replace the average, see _smooth_bw), thresholds are biased toward the
current mode by `margin`, and a different classification must persist `enter_samples`
consecutive samples -- counted only while the smoothed values and the raw sample agree on it, so a
single spike dragging the average along does not count -- before the peer's mode changes. A new peer takes its first classification
immediately: there is no previous belief to protect.

The node mode is derived from the peers' modes (see `classifier.combine`), unless pinned by
`force()` or frozen by turning auto-detection off (then the fallback mode is used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from novacron.dwcp.mode.classifier import DEFAULT_THRESHOLDS, MODES, Thresholds, classify, combine
from novacron.dwcp.probe.rtt import RttEstimator
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeName, PeerLink


@dataclass(frozen=True)
class LinkSample:
    """One measurement of a link. Bandwidth and loss are optional (not every source has them)."""

    rtt_ms: float
    bw_mbps: float | None = None
    loss: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rtt_ms, int | float) or not math.isfinite(self.rtt_ms) or self.rtt_ms < 0:
            raise InvalidInput(f"must be a finite number >= 0, got {self.rtt_ms!r}", field="rtt_ms")
        if self.bw_mbps is not None and (
            not isinstance(self.bw_mbps, int | float) or not math.isfinite(self.bw_mbps) or self.bw_mbps < 0
        ):
            raise InvalidInput(f"must be a finite number >= 0 or null, got {self.bw_mbps!r}", field="bw_mbps")
        if self.loss is not None and (not isinstance(self.loss, int | float) or not 0.0 <= self.loss <= 1.0):
            raise InvalidInput(f"must be between 0 and 1 or null, got {self.loss!r}", field="loss")


@dataclass(frozen=True)
class ModeChanged:
    """A decision. scope "peer": that peer's link class changed; "node": the node's mode did."""

    scope: Literal["peer", "node"]
    peer: str | None
    old: ModeName | None
    new: ModeName
    reason: str


@dataclass
class _Peer:
    rtt: RttEstimator
    bw_mbps: float | None = None
    bw_shift: int = 0  # +1/-1: the last bandwidth sample was a level shift up/down (see _smooth_bw)
    loss: float | None = None
    mode: ModeName | None = None
    candidate: ModeName | None = None
    streak: int = 0


@dataclass(frozen=True)
class DetectorStatus:
    mode: ModeName
    detected: ModeName
    forced: ModeName | None
    auto_detection: bool
    peers: tuple[PeerLink, ...] = field(default_factory=tuple)


class ModeDetector:
    """Not thread-safe; the owning service serialises calls."""

    def __init__(
        self,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        *,
        enter_samples: int = 3,
        margin: float = 0.2,
        alpha: float = 0.25,
        fallback: ModeName = "datacenter",
        auto_detection: bool = True,
        forced: ModeName | None = None,
    ) -> None:
        if not isinstance(enter_samples, int) or enter_samples < 1:
            raise InvalidInput(f"must be an integer >= 1, got {enter_samples!r}", field="enter_samples")
        if not 0.0 <= margin < 1.0:
            raise InvalidInput(f"must be in [0, 1), got {margin!r}", field="margin")
        if not 0.0 < alpha <= 1.0:
            raise InvalidInput(f"must be in (0, 1], got {alpha!r}", field="alpha")
        _check_mode("fallback", fallback)
        if forced is not None:
            _check_mode("forced", forced)
        self.thresholds = thresholds
        self.enter_samples = enter_samples
        self.margin = margin
        self.alpha = alpha
        self.fallback: ModeName = fallback
        self._auto = auto_detection
        self._forced: ModeName | None = forced
        self._peers: dict[str, _Peer] = {}
        self._mode: ModeName = self._effective()

    # -- inputs -------------------------------------------------------------------------------
    def on_sample(self, peer: str, sample: LinkSample) -> list[ModeChanged]:
        if not isinstance(peer, str) or not peer:
            raise InvalidInput("must be a non-empty string", field="peer")
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _Peer(rtt=RttEstimator(alpha=self.alpha))
        srtt = state.rtt.on_sample(sample.rtt_ms)
        state.bw_mbps, state.bw_shift = _smooth_bw(state.bw_mbps, state.bw_shift, sample.bw_mbps, self.alpha)
        state.loss = _ewma(state.loss, sample.loss, self.alpha)

        if state.mode is None:
            new = classify(srtt, state.bw_mbps, self.thresholds)
            return self._set_peer(peer, state, new, f"first sample: {_describe(srtt, state.bw_mbps)}")

        biased = self.thresholds.biased_toward(state.mode, self.margin)
        cand = classify(srtt, state.bw_mbps, biased)
        raw_bw = sample.bw_mbps if sample.bw_mbps is not None else state.bw_mbps
        if cand == state.mode or classify(sample.rtt_ms, raw_bw, biased) != cand:
            # Both the smoothed trend and this very sample must point elsewhere: the EWMA alone
            # would let one huge spike carry the average across a threshold for several samples.
            state.candidate, state.streak = None, 0
            return []
        if cand == state.candidate:
            state.streak += 1
        else:
            state.candidate, state.streak = cand, 1
        if state.streak < self.enter_samples:
            return []
        return self._set_peer(
            peer, state, cand, f"{state.streak} consecutive samples: {_describe(srtt, state.bw_mbps)}"
        )

    def remove_peer(self, peer: str) -> list[ModeChanged]:
        if self._peers.pop(peer, None) is None:
            return []
        return self._recompute(f"peer {peer} removed")

    def force(self, mode: ModeName | None) -> list[ModeChanged]:
        """Pin the node mode (None: back to detection). Peer tracking continues either way."""
        if mode is not None:
            _check_mode("mode", mode)
        self._forced = mode
        return self._recompute(f"forced to {mode}" if mode else "forced mode cleared")

    def set_auto_detection(self, enabled: bool) -> list[ModeChanged]:
        self._auto = bool(enabled)
        return self._recompute(
            "auto detection " + ("enabled" if enabled else f"disabled, using {self.fallback}")
        )

    # -- outputs ------------------------------------------------------------------------------
    @property
    def mode(self) -> ModeName:
        return self._mode

    @property
    def forced(self) -> ModeName | None:
        return self._forced

    @property
    def auto_detection(self) -> bool:
        return self._auto

    def detected(self) -> ModeName:
        """What the peers say, regardless of force/auto settings."""
        return combine([p.mode for p in self._peers.values() if p.mode is not None], self.fallback)

    def peer(self, peer: str) -> PeerLink | None:
        """Smoothed measurements and mode of one peer, None if unknown."""
        state = self._peers.get(peer)
        return None if state is None else self._link(peer, state)

    def status(self) -> DetectorStatus:
        peers = tuple(self._link(name, p) for name, p in sorted(self._peers.items()))
        return DetectorStatus(self._mode, self.detected(), self._forced, self._auto, peers)

    # -- internals ----------------------------------------------------------------------------
    def _effective(self) -> ModeName:
        if self._forced is not None:
            return self._forced
        if not self._auto:
            return self.fallback
        return self.detected()

    def _link(self, name: str, p: _Peer) -> PeerLink:
        return PeerLink(
            node_id=name,
            mode=p.mode or self.fallback,
            rtt_ms=p.rtt.srtt_ms,
            rtt_var_ms=p.rtt.rttvar_ms,
            bandwidth_mbps=p.bw_mbps,
            loss_ratio=p.loss,
        )

    def _set_peer(self, peer: str, state: _Peer, new: ModeName, reason: str) -> list[ModeChanged]:
        old = state.mode
        state.mode, state.candidate, state.streak = new, None, 0
        out = [ModeChanged("peer", peer, old, new, reason)]
        out += self._recompute(f"peer {peer} is {new}", peer)
        return out

    def _recompute(self, reason: str, peer: str | None = None) -> list[ModeChanged]:
        new = self._effective()
        if new == self._mode:
            return []
        old, self._mode = self._mode, new
        return [ModeChanged("node", peer, old, new, reason)]


def _ewma(old: float | None, value: float | None, alpha: float) -> float | None:
    if value is None:
        return old
    if old is None:
        return float(value)
    return (1 - alpha) * old + alpha * value


# A bandwidth sample this many times above or below the smoothed value is a candidate level shift.
BW_SHIFT_FACTOR = 4.0


def _smooth_bw(old: float | None, shift: int, value: float | None, alpha: float) -> tuple[float | None, int]:
    """EWMA, except across a level shift: two samples in a row `BW_SHIFT_FACTOR` away on the same
    side replace the average. Why: bandwidth samples come from transfers and idle probes, tens of
    seconds apart, and a link change spans orders of magnitude: a plain EWMA kept the old level
    long after the RTT had crossed (decisions.md: bandwidth-level-shift). One outlier alone still
    only moves the average."""
    if value is None:
        return old, shift
    if old is None or old <= 0 or value <= 0:
        return _ewma(old, value, alpha), 0
    side = 1 if value > old * BW_SHIFT_FACTOR else -1 if value * BW_SHIFT_FACTOR < old else 0
    if side and side == shift:
        return float(value), 0
    return _ewma(old, value, alpha), side


def _describe(rtt_ms: float, bw_mbps: float | None) -> str:
    bw = "unknown" if bw_mbps is None else f"{bw_mbps:.0f} Mbit/s"
    return f"rtt {rtt_ms:.2f} ms, bandwidth {bw}"


def _check_mode(name: str, mode: object) -> None:
    if mode not in MODES:
        raise InvalidInput(f"must be one of {', '.join(MODES)}, got {mode!r}", field=name)
