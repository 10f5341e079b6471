"""Which TCP congestion control a DWCP connection uses: one rule for carriers and probes (sans-I/O).

An algorithm named in `dwcp.transport.congestion_algo` is used everywhere. "adaptive" decides
from the facts the caller has:

* the node's DWCP mode, for carriers (a migration's pipes and AMST channels, and every mode switch
  while it runs): cubic in datacenter mode, fair and fine on a clean short path; bbr elsewhere,
  where cubic's loss-driven window collapses on long or lossy paths and bbr keeps them full;
* otherwise the connected socket's own TCP_INFO, for a bandwidth probe (its figures decide the
  mode, so it must not follow the mode) and a channel asked for "adaptive" itself: bbr when the
  smoothed RTT is at least ADAPTIVE_RTT_MS or a segment was retransmitted, else cubic. With
  nothing known, cubic.

Without the v3 transport a migration runs as v2 did, on cubic whatever the configuration.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from novacron.config.model import TransportConfig
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.mode import ModeName

Congestion = Literal["bbr", "cubic", "adaptive"]  # what may be configured or asked for
Algorithm = Literal["bbr", "cubic"]  # what a socket is given
CONGESTION_CHOICES: tuple[str, ...] = get_args(Congestion)
ADAPTIVE_RTT_MS = 10.0  # a path longer than this is no LAN
V2_ALGORITHM: Algorithm = "cubic"


def check_congestion(value: object) -> Congestion:
    """`value` if it is a congestion setting; InvalidInput naming the field otherwise."""
    if value not in CONGESTION_CHOICES:
        raise InvalidInput(f"must be one of {', '.join(CONGESTION_CHOICES)}, not {value!r}", field="congestion")
    return value  # type: ignore[return-value]


def resolve_congestion(
    transport: TransportConfig | Congestion,
    *,
    mode: ModeName | None = None,
    rtt_ms: float | None = None,
    retransmits: int = 0,
    v3_transport: bool = True,
) -> Algorithm:
    """The algorithm for one connection. `transport` is the config slice, or the setting it holds
    as passed down to a carrier; `mode` wins over the socket's `rtt_ms`/`retransmits` when given."""
    wanted = check_congestion(transport.congestion_algo if isinstance(transport, TransportConfig) else transport)
    if not v3_transport:
        return V2_ALGORITHM
    if wanted != "adaptive":
        return wanted
    if mode is not None:
        return "cubic" if mode == "datacenter" else "bbr"
    long_path = rtt_ms is not None and math.isfinite(rtt_ms) and rtt_ms >= ADAPTIVE_RTT_MS
    return "bbr" if long_path or retransmits > 0 else "cubic"
