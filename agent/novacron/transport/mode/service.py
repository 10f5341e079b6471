"""ModeService: the I/O-facing glue of detection, profiles, live settings, flags and metrics.

The detector decides, the precomputed profile for the decided mode is swapped into LiveSettings,
and the decision -> in-effect time is measured with the injected clock and published. Everything
the API's GET/PUT /api/v1/mode needs goes through `status()` and `update()`. The forced mode comes
from config.dwcp.forced_mode (the config loader has already folded NOVACRON_DWCP_MODE into it).
Measurements arrive through on_link_sample / on_tcp_info (the prober, transport/probe/runner.py) and
on_transfer (whoever moves real data, e.g. a migration); the prober also registers itself as the
source of the per-peer bandwidth forecasts that status() shows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError

from novacron.config.model import AgentConfig, DwcpConfig
from novacron.dwcp.mode.classifier import DEFAULT_THRESHOLDS, MODES, Thresholds
from novacron.dwcp.mode.detector import LinkSample, ModeChanged, ModeDetector
from novacron.dwcp.mode.profiles import ModeProfile, all_profiles
from novacron.dwcp.mode.rollout import Flags, effective_flags, in_rollout
from novacron.dwcp.probe.tcpinfo import TcpInfo, loss_ratio
from novacron.transport.mode.live_settings import LiveSettings, SwitchReport
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeSettings, ModeStatus, PeerLink

log = logging.getLogger(__name__)

MIN_TRANSFER_BYTES = 1 << 20
"""Transfers smaller than this say more about the sender than about the link: not counted."""

TransferListener = Callable[[str, float], object]
PredictionSource = Callable[[str], "float | None"]

_FLAG_FIELDS = (
    "enable_v3_transport",
    "enable_v3_compression",
    "enable_v3_prediction",
    "v3_rollout_percentage",
)


def _invalid(exc: ValidationError, prefix: str = "") -> InvalidInput:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or None
    return InvalidInput(err.get("msg", str(exc)), field=f"{prefix}{field}" if field else prefix or None)


class ModeService:
    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Callable[[], float] = time.perf_counter,
        registry: CollectorRegistry | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        enter_samples: int = 3,
        margin: float = 0.2,
        alpha: float = 0.25,
    ) -> None:
        self._clock = clock
        self._node_id = config.system.node_id
        self._dwcp: DwcpConfig = config.dwcp.model_copy(deep=True)
        self._profiles = all_profiles(self._dwcp)
        self._detector = ModeDetector(
            thresholds,
            enter_samples=enter_samples,
            margin=margin,
            alpha=alpha,
            auto_detection=self._dwcp.enable_auto_detection,
            forced=self._dwcp.forced_mode or None,
        )
        self.live = LiveSettings(self._profiles[self._detector.mode])
        self._lock = threading.RLock()
        self._last_switch_s: float | None = None

        self.registry = registry if registry is not None else CollectorRegistry()
        self._g_mode = Gauge(
            "dwcp_mode", "1 for the DWCP mode in effect, 0 for the others", ["mode"], registry=self.registry
        )
        self._g_rtt = Gauge(
            "dwcp_peer_rtt_ms", "Smoothed RTT to a peer in milliseconds", ["peer"], registry=self.registry
        )
        self._g_bw = Gauge(
            "dwcp_peer_bandwidth_mbps",
            "Smoothed bandwidth to a peer in Mbit/s",
            ["peer"],
            registry=self.registry,
        )
        self._g_rttvar = Gauge(
            "dwcp_peer_rtt_var_ms", "RTT variance (RFC 6298 RTTVAR) to a peer in ms", ["peer"], registry=self.registry
        )
        self._g_loss = Gauge(
            "dwcp_peer_loss_ratio",
            "Smoothed retransmitted/sent segment ratio towards a peer",
            ["peer"],
            registry=self.registry,
        )
        self._transfer_listeners: tuple[TransferListener, ...] = ()
        self._busy: dict[str, dict[str, float]] = {}  # peer -> {token: clock() deadline} (begin_busy)
        self._prediction: PredictionSource | None = None
        self._g_switch = Gauge(
            "dwcp_mode_switch_seconds",
            "Decision-to-effect time of the last mode switch",
            registry=self.registry,
        )
        self._c_switches = Counter("dwcp_mode_switches", "Mode switches since start", registry=self.registry)
        self._publish_mode()

    # -- reads ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._detector.mode

    @property
    def profile(self) -> ModeProfile:
        return self.live.current

    @property
    def dwcp(self) -> DwcpConfig:
        """The DWCP section as updated at run time (for whoever persists config)."""
        return self._dwcp

    @property
    def flags(self) -> Flags:
        return effective_flags(self._dwcp, self._node_id)

    def status(self) -> ModeStatus:
        with self._lock:
            det = self._detector.status()
            return ModeStatus(
                mode=det.mode,
                forced=det.forced is not None,
                auto_detection=det.auto_detection,
                enable_v3_transport=self._dwcp.enable_v3_transport,
                enable_v3_compression=self._dwcp.enable_v3_compression,
                enable_v3_prediction=self._dwcp.enable_v3_prediction,
                v3_rollout_percentage=self._dwcp.v3_rollout_percentage,
                in_rollout=in_rollout(self._node_id, self._dwcp.v3_rollout_percentage),
                peers=[self._with_prediction(p) for p in det.peers],
                last_switch_ms=None if self._last_switch_s is None else self._last_switch_s * 1000.0,
            )

    def peer_link(self, peer: str) -> PeerLink | None:
        """What is known of the link to `peer` (smoothed measurements and forecast), None if nothing."""
        with self._lock:
            link = self._detector.peer(peer)
        return None if link is None else self._with_prediction(link)

    # -- writes ---------------------------------------------------------------------------------
    def update(self, settings: ModeSettings | Mapping[str, Any]) -> ModeStatus:
        """Apply a PUT /api/v1/mode body; fields left out keep their value. Returns the new status."""
        if not isinstance(settings, ModeSettings):
            try:
                settings = ModeSettings.model_validate(settings)
            except ValidationError as exc:
                raise _invalid(exc) from None
        changes: dict[str, Any] = {
            k: getattr(settings, k) for k in _FLAG_FIELDS if getattr(settings, k) is not None
        }
        with self._lock:
            decisions: list[ModeChanged] = []
            if settings.mode == "auto":
                changes.update(forced_mode="", enable_auto_detection=True)
            elif settings.mode is not None:
                if settings.mode not in MODES:
                    raise InvalidInput(f"must be auto or one of {', '.join(MODES)}", field="mode")
                changes["forced_mode"] = settings.mode
            if changes:
                try:
                    self._dwcp = DwcpConfig.model_validate({**self._dwcp.model_dump(), **changes})
                except ValidationError as exc:
                    raise _invalid(exc) from None
            if settings.mode == "auto":
                decisions += self._detector.force(None)
                decisions += self._detector.set_auto_detection(True)
            elif settings.mode is not None:
                decisions += self._detector.force(settings.mode)
            self._switch_if_needed(decisions)
        return self.status()

    def on_link_sample(self, peer: str, sample: LinkSample) -> list[ModeChanged]:
        with self._lock:
            decisions = self._detector.on_sample(peer, sample)
            self._switch_if_needed(decisions)
            link = self._detector.peer(peer)
        if link is not None:
            for gauge, value in (
                (self._g_rtt, link.rtt_ms),
                (self._g_rttvar, link.rtt_var_ms),
                (self._g_bw, link.bandwidth_mbps),
                (self._g_loss, link.loss_ratio),
            ):
                if value is not None:
                    gauge.labels(peer=peer).set(value)
        return decisions

    def on_transfer(self, peer: str, nbytes: int, seconds: float) -> list[ModeChanged]:
        """A real transfer to `peer` moved `nbytes` in `seconds` (e.g. a migration's last second).

        Call it for link-limited stretches (bulk copy); an idle sender's rate says nothing about
        the link, which is why transfers under MIN_TRANSFER_BYTES are ignored. The throughput is a
        bandwidth sample for detection (with the peer's current smoothed RTT, so a peer nobody has
        pinged yet is only passed to the listeners) and goes to every transfer listener (the prober:
        it pauses its own bandwidth probes while real traffic measures the link, and feeds PBA).
        Thread-safe.
        """
        if not isinstance(peer, str) or not peer:
            raise InvalidInput("must be a non-empty string", field="peer")
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise InvalidInput(f"must be an integer >= 0, got {nbytes!r}", field="nbytes")
        if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
            raise InvalidInput(f"must be a finite number > 0, got {seconds!r}", field="seconds")
        if nbytes < MIN_TRANSFER_BYTES:
            return []
        mbps = nbytes * 8 / seconds / 1e6
        for listener in self._transfer_listeners:
            try:
                listener(peer, mbps)
            except Exception:  # a broken listener must not break the caller's transfer
                log.exception("transfer listener %r failed", listener)
        with self._lock:
            link = self._detector.peer(peer)
        if link is None or link.rtt_ms is None:
            return []
        return self.on_link_sample(peer, LinkSample(link.rtt_ms, mbps))

    def begin_busy(self, peer: str, token: str, max_s: float) -> None:
        """Real traffic with `peer` (a migration, either end) from now until end_busy(token), or
        `max_s` at most (an end never reported must not silence the prober for good). Meanwhile
        the prober sends no bandwidth probe over that link (a 19 MB probe inside a migration costs it
        the link) and takes no RTT from its pings (a full link's queues and agents busy relaying are
        not the path's delay)."""
        with self._lock:
            self._busy.setdefault(peer, {})[token] = self._clock() + max_s

    def end_busy(self, peer: str, token: str) -> None:
        with self._lock:
            spans = self._busy.get(peer, {})
            spans.pop(token, None)
            if not spans:
                self._busy.pop(peer, None)

    def link_busy(self, peer: str) -> bool:
        """Whether a busy span with `peer` is open (expired ones are dropped)."""
        with self._lock:
            spans = self._busy.get(peer)
            if not spans:
                return False
            now = self._clock()
            for token in [t for t, until in spans.items() if until <= now]:
                del spans[token]
            if not spans:
                del self._busy[peer]
            return bool(spans)

    def add_transfer_listener(self, listener: TransferListener) -> Callable[[], None]:
        """`listener(peer, mbps)` on every counted transfer; returns a function that removes it."""
        with self._lock:
            self._transfer_listeners = (*self._transfer_listeners, listener)

        def remove() -> None:
            with self._lock:
                self._transfer_listeners = tuple(x for x in self._transfer_listeners if x is not listener)

        return remove

    def set_prediction_source(self, source: PredictionSource | None) -> None:
        """Where status() gets each peer's predicted bandwidth (Mbit/s over the next 5 s)."""
        self._prediction = source

    def _with_prediction(self, link: PeerLink) -> PeerLink:
        source = self._prediction
        if source is None:
            return link
        try:
            predicted = source(link.node_id)
        except Exception:
            log.exception("bandwidth prediction for %s failed", link.node_id)
            return link
        return link if predicted is None else link.model_copy(update={"predicted_mbps": predicted})

    def on_tcp_info(self, peer: str, info: TcpInfo, previous: TcpInfo | None = None) -> list[ModeChanged]:
        """Feed a TCP_INFO snapshot (from a transfer or the control channel) as a sample."""
        sample = LinkSample(info.rtt_ms, info.delivery_rate_mbps, loss_ratio(info, previous))
        return self.on_link_sample(peer, sample)

    def remove_peer(self, peer: str) -> list[ModeChanged]:
        with self._lock:
            decisions = self._detector.remove_peer(peer)
            self._switch_if_needed(decisions)
        for gauge in (self._g_rtt, self._g_rttvar, self._g_bw, self._g_loss):
            with contextlib.suppress(KeyError):
                gauge.remove(peer)
        return decisions

    # -- internals ------------------------------------------------------------------------------
    def _switch_if_needed(self, decisions: list[ModeChanged]) -> SwitchReport | None:
        if not any(d.scope == "node" for d in decisions):
            return None
        decided_at = self._clock()
        report = self.live.apply(
            self._profiles[self._detector.mode], clock=self._clock, started_at=decided_at
        )
        if report.changed:
            self._last_switch_s = report.duration_s
            self._g_switch.set(report.duration_s)
            self._c_switches.inc()
            self._publish_mode()
        return report

    def _publish_mode(self) -> None:
        current = self._detector.mode
        for mode in MODES:
            self._g_mode.labels(mode=mode).set(1 if mode == current else 0)
