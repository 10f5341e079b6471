"""v3 feature flags and their percentage rollout.

A node's bucket is a pure function of its node_id (sha256, first 8 bytes, mod 10000), so every
agent and every operator tool computes the same answer without coordination, and a node is in
the rollout when bucket < pct * 100. Raising the percentage therefore only ever adds nodes; it
never swaps one node for another. sha256 rather than Python's hash(): the latter is salted per
process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from novacron.config.model import DwcpConfig
from novacron_sdk.errors import InvalidInput

BUCKETS = 10_000


def rollout_bucket(node_id: str) -> int:
    """Stable bucket 0..9999 for a node."""
    if not isinstance(node_id, str) or not node_id:
        raise InvalidInput("must be a non-empty string", field="node_id")
    digest = hashlib.sha256(node_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_rollout(node_id: str, pct: float) -> bool:
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
        raise InvalidInput(f"must be a number between 0 and 100, got {pct!r}", field="v3_rollout_percentage")
    return rollout_bucket(node_id) < pct * (BUCKETS // 100)


@dataclass(frozen=True)
class Flags:
    """The v3 features this node actually uses."""

    transport: bool
    compression: bool
    prediction: bool


def effective_flags(dwcp: DwcpConfig, node_id: str) -> Flags:
    """A flag counts only when it is enabled AND this node falls inside the rollout."""
    inside = in_rollout(node_id, dwcp.v3_rollout_percentage)
    return Flags(
        transport=dwcp.enable_v3_transport and inside,
        compression=dwcp.enable_v3_compression and inside,
        prediction=dwcp.enable_v3_prediction and inside,
    )
