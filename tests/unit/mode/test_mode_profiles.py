"""ModeProfile derivation from the DWCP config."""

from __future__ import annotations

import pytest

from novacron.config.model import CompressionConfig, DwcpConfig, TransportConfig
from novacron.dwcp.mode.profiles import ModeProfile, all_profiles, profile_for
from novacron_sdk.errors import InvalidInput


def test_default_profiles_order_and_bounds() -> None:
    cfg = DwcpConfig()
    p = all_profiles(cfg)
    lo, hi = cfg.transport.min_streams, cfg.transport.max_streams
    for prof in p.values():
        assert lo <= prof.streams_min <= prof.streams_max <= hi
        assert prof.socket_buffer_bytes == cfg.transport.socket_buffer_bytes
    dc, hy, inet = p["datacenter"], p["hybrid"], p["internet"]
    assert dc.streams_max <= hy.streams_max <= inet.streams_max == hi
    assert dc.streams_min == lo and dc.streams_min <= hy.streams_min <= inet.streams_min
    assert (dc.congestion, hy.congestion, inet.congestion) == ("cubic", "bbr", "bbr")  # adaptive
    assert (dc.compression_algorithm, dc.compression_level) == ("lz4", 0)
    assert (hy.compression_algorithm, hy.compression_level) == ("zstd", cfg.compression.level)
    assert inet.compression_algorithm == "zstd" and inet.compression_level > hy.compression_level
    assert dc.segment_bytes > hy.segment_bytes > inet.segment_bytes
    assert dc.frame_bytes < hy.frame_bytes < inet.frame_bytes
    assert dc.consensus != inet.consensus


def test_config_choices_win() -> None:
    cfg = DwcpConfig(
        transport=TransportConfig(min_streams=16, max_streams=16, congestion_algo="bbr"),
        compression=CompressionConfig(algorithm="none", level=0),
    )
    for prof in all_profiles(cfg).values():
        assert (prof.streams_min, prof.streams_max) == (16, 16)
        assert prof.congestion == "bbr"
        assert (prof.compression_algorithm, prof.compression_level) == ("none", 0)


def test_levels_clamped_to_codec_range() -> None:
    cfg = DwcpConfig(compression=CompressionConfig(algorithm="lz4", level=20))
    p = all_profiles(cfg)
    assert p["hybrid"].compression_level == 16 and p["internet"].compression_level == 16
    cfg = DwcpConfig(compression=CompressionConfig(algorithm="zstd", level=21))
    assert profile_for("internet", cfg).compression_level == 22


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidInput) as exc:
        profile_for("lan", DwcpConfig())  # type: ignore[arg-type]
    assert exc.value.field == "mode"
    base = profile_for("hybrid", DwcpConfig())
    with pytest.raises(InvalidInput) as exc:
        ModeProfile(**{**base.__dict__, "streams_min": 9, "streams_max": 8})
    assert exc.value.field == "streams_min"
    with pytest.raises(InvalidInput) as exc:
        ModeProfile(**{**base.__dict__, "compression_algorithm": "lz4", "compression_level": 17})
    assert exc.value.field == "compression_level"
