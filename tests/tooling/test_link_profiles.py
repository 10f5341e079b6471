"""Link profiles are validated values; the named ones match what the integration tests assume."""

from __future__ import annotations

import math

import pytest

from tests.tooling.link_emulator import PROFILES, LinkProfile, get_profile, tbf_args


def test_named_profiles() -> None:
    assert get_profile("datacenter").needs_forwarder is False
    assert get_profile("datacenter").rate_mbit is None
    internet = get_profile("internet")
    assert (internet.rtt_ms, internet.rate_mbit, internet.loss) == (50.0, 1000.0, 0.001)
    constrained = get_profile("constrained")
    assert (constrained.rtt_ms, constrained.rate_mbit, constrained.loss) == (50.0, 100.0, 0.0)
    assert set(PROFILES) == {"datacenter", "internet", "constrained"}


def test_custom_profile_passes_through() -> None:
    p = LinkProfile("lossy", loss=0.2)
    assert get_profile(p) is p
    assert p.needs_forwarder


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": math.nan}, "delay_ms"),
        ({"rate_mbit": 0}, "rate_mbit"),
        ({"rate_mbit": "fast"}, "rate_mbit"),
        ({"loss": 1.0}, "loss"),
        ({"loss": True}, "loss"),
    ],
)
def test_bad_profile_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        LinkProfile("x", **kwargs)


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="profile: unknown link profile 'lan'.*datacenter"):
        get_profile("lan")


def test_tbf_args() -> None:
    assert tbf_args(get_profile("datacenter")) is None
    args = tbf_args(get_profile("constrained"))
    assert args is not None and args[:3] == ["tbf", "rate", "100mbit"]
    burst = int(args[args.index("burst") + 1])
    assert burst >= 64 * 1024  # a 64 KiB GSO packet must fit in one burst
    fast = tbf_args(LinkProfile("fast", rate_mbit=10_000))
    assert fast is not None and int(fast[fast.index("burst") + 1]) >= 10_000e6 / 8 * 0.002
