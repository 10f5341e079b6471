"""Rollout buckets: stable, monotone in the percentage, roughly uniform; effective flags."""

from __future__ import annotations

import hashlib

import pytest

from novacron.config.model import DwcpConfig
from novacron.dwcp.mode.rollout import Flags, effective_flags, in_rollout, rollout_bucket
from novacron_sdk.errors import InvalidInput

IDS = [f"node-{i:04d}" for i in range(1000)]


def test_bucket_is_sha256_based_and_stable() -> None:
    for node in ("node-1", "db-7.example", "x"):
        expected = int.from_bytes(hashlib.sha256(node.encode()).digest()[:8], "big") % 10_000
        assert rollout_bucket(node) == expected == rollout_bucket(node)
        assert 0 <= expected < 10_000


def test_raising_the_percentage_only_adds_nodes() -> None:
    previous: set[str] = set()
    for pct in range(0, 101, 5):
        current = {n for n in IDS if in_rollout(n, pct)}
        assert previous <= current, f"raising to {pct}% removed {previous - current}"
        previous = current
    assert {n for n in IDS if in_rollout(n, 0)} == set()
    assert {n for n in IDS if in_rollout(n, 100)} == set(IDS)


def test_distribution_is_roughly_uniform() -> None:
    ids = [f"host-{i}" for i in range(5000)]
    deciles = [0] * 10
    for n in ids:
        deciles[rollout_bucket(n) // 1000] += 1
    expected = len(ids) / 10
    chi2 = sum((c - expected) ** 2 / expected for c in deciles)
    assert chi2 < 27.9  # 9 degrees of freedom, p = 0.001
    share = sum(in_rollout(n, 30) for n in IDS) / len(IDS)
    assert 0.25 < share < 0.35


def test_effective_flags_need_flag_and_rollout() -> None:
    inside = next(n for n in IDS if rollout_bucket(n) < 2000)
    outside = next(n for n in IDS if rollout_bucket(n) >= 2000)
    cfg = DwcpConfig(v3_rollout_percentage=20, enable_v3_prediction=False)
    assert effective_flags(cfg, inside) == Flags(transport=True, compression=True, prediction=False)
    assert effective_flags(cfg, outside) == Flags(transport=False, compression=False, prediction=False)
    assert effective_flags(DwcpConfig(v3_rollout_percentage=100), outside) == Flags(True, True, True)


@pytest.mark.parametrize("pct", [-1, 101, True, "50"])
def test_bad_percentage(pct: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        in_rollout("node-1", pct)  # type: ignore[arg-type]
    assert exc.value.field == "v3_rollout_percentage"


def test_bad_node_id() -> None:
    with pytest.raises(InvalidInput) as exc:
        rollout_bucket("")
    assert exc.value.field == "node_id"
