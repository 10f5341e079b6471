"""Link classification table, boundaries, biased thresholds and node combination."""

from __future__ import annotations

import pytest

from novacron.dwcp.mode.classifier import Thresholds, classify, combine
from novacron_sdk.errors import InvalidInput


@pytest.mark.parametrize(
    ("rtt", "bw", "expected"),
    [
        (0.0, 1e6, "datacenter"),
        (5.0, 5000.0, "datacenter"),
        (9.99, 1000.01, "datacenter"),
        (10.0, 5000.0, "hybrid"),  # RTT boundary: not < 10
        (5.0, 1000.0, "hybrid"),  # bandwidth boundary: neither > 1000 nor < 1000
        (5.0, 999.9, "internet"),  # below 1 Gbit/s is internet even on a short link
        (30.0, 5000.0, "hybrid"),  # between 10 and 50 ms with >= 1 Gbit/s
        (50.0, 5000.0, "hybrid"),  # RTT boundary: not > 50
        (50.01, 5000.0, "internet"),
        (200.0, 10000.0, "internet"),
        (30.0, 10.0, "internet"),
        (5.0, None, "datacenter"),  # no bandwidth yet: RTT alone
        (30.0, None, "hybrid"),
        (60.0, None, "internet"),
    ],
)
def test_default_table(rtt: float, bw: float | None, expected: str) -> None:
    assert classify(rtt, bw) == expected


def test_custom_thresholds() -> None:
    t = Thresholds(dc_rtt_ms=1, dc_bw_mbps=10000, inet_rtt_ms=20, inet_bw_mbps=100)
    assert classify(0.5, 20000, t) == "datacenter"
    assert classify(5, 5000, t) == "hybrid"
    assert classify(5, 50, t) == "internet"
    assert classify(25, 50000, t) == "internet"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dc_rtt_ms": -1}, "thresholds.dc_rtt_ms"),
        ({"inet_bw_mbps": float("nan")}, "thresholds.inet_bw_mbps"),
        ({"dc_rtt_ms": 60}, "thresholds.dc_rtt_ms"),  # above inet_rtt_ms
        ({"dc_bw_mbps": 500}, "thresholds.dc_bw_mbps"),  # below inet_bw_mbps
    ],
)
def test_bad_thresholds_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Thresholds(**kwargs)
    assert exc.value.field == field


def test_bad_sample_values() -> None:
    with pytest.raises(InvalidInput) as exc:
        classify(-1, 100)
    assert exc.value.field == "rtt_ms"
    with pytest.raises(InvalidInput) as exc:
        classify(1, float("inf"))
    assert exc.value.field == "bw_mbps"


def test_bias_keeps_current_mode_inside_margin() -> None:
    t = Thresholds()
    # 11 ms would be hybrid from scratch, but a datacenter link keeps its class within 20%.
    assert classify(11, 5000, t) == "hybrid"
    assert classify(11, 5000, t.biased_toward("datacenter", 0.2)) == "datacenter"
    assert classify(12.5, 5000, t.biased_toward("datacenter", 0.2)) == "hybrid"
    # A hybrid link needs to get clearly fast to become datacenter, clearly slow to become internet.
    hy = t.biased_toward("hybrid", 0.2)
    assert classify(9, 5000, hy) == "hybrid"
    assert classify(7.9, 1300, hy) == "datacenter"
    assert classify(55, 5000, hy) == "hybrid"
    assert classify(61, 5000, hy) == "internet"
    # An internet link stays internet until bandwidth is clearly above the limit.
    inet = t.biased_toward("internet", 0.2)
    assert classify(5, 1100, inet) == "internet"
    assert classify(20, 1300, inet) == "hybrid"
    assert classify(5, 1300, inet) == "datacenter"
    assert classify(9, 1300, inet) == "hybrid"  # 9 ms is no longer clearly below 10 ms
    assert t.biased_toward(None, 0.2) is t
    assert t.biased_toward("hybrid", 0) is t


def test_combine_node_mode() -> None:
    assert combine([]) == "datacenter"
    assert combine([], fallback="internet") == "internet"
    assert combine(["internet", "internet"]) == "internet"
    assert combine(["datacenter"]) == "datacenter"
    assert combine(["datacenter", "internet"]) == "hybrid"
    assert combine(["datacenter", "datacenter", "hybrid"]) == "hybrid"
