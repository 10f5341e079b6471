"""The fast path's sans-I/O pieces: session header and reply codec, tokens, and the data-path choice."""

from __future__ import annotations

import pytest

from benchmarks.fastpath.fastpath import (
    FastpathHeader,
    FastpathHeaderError,
    choose_data_path,
    new_secret,
)
from benchmarks.fastpath.fastpath_wire import (
    encode_reply,
    header_missing,
    parse_header,
    parse_reply,
    reply_missing,
)
from novacron_sdk.errors import InvalidInput


# -- sans-I/O header ---------------------------------------------------------------------------------
def test_header_round_trip_fed_byte_by_byte() -> None:
    secret = new_secret()
    header = FastpathHeader.signed("migration-ä-42", 5, secret)
    wire = header.encode() + b"QEMU bytes follow"
    buf = b""
    while header_missing(buf):
        buf += wire[len(buf) : len(buf) + 1]  # one byte at a time: never asks for more than needed
        assert len(buf) <= len(header.encode())
    parsed, size = parse_header(buf)
    assert parsed == header and size == len(header.encode()) and wire[size:] == b"QEMU bytes follow"
    assert parsed.verify(secret) and not parsed.verify(new_secret())
    assert not FastpathHeader("migration-ä-42", 6, header.token).verify(secret)  # token is per channel


def _raw(mid: bytes, channel: int, token: bytes = bytes(32), length: int | None = None) -> bytes:
    body = bytes([len(mid)]) + mid + channel.to_bytes(2, "big") + token
    return b"NCFP\x01\x00" + (len(body) if length is None else length).to_bytes(2, "big") + body


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"XCFP", "magic"),
        (b"NCFP\x02", "version"),
        (b"NCFP\x01\x01\x00\x24", "flags"),
        (b"NCFP\x01\x00\x00\x05", "length"),
        (b"NCFP\x01\x00\x01\x23", "length"),
        (_raw(b"", 0, bytes(33)), "migration_id"),
        (_raw(b"m", 0, bytes(36)), "length"),
        (_raw(b"\xff\xfe", 0), "migration_id"),
        (_raw(b"m", 4000), "channel"),
    ],
)
def test_malformed_header_names_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(FastpathHeaderError) as err:
        if not header_missing(raw):
            parse_header(raw)
        else:
            parse_header(raw + bytes(300))
    assert err.value.field == field and field in str(err.value)


def test_reply_codec_and_bad_replies() -> None:
    assert parse_reply(encode_reply(None)) is None
    assert parse_reply(encode_reply("bad token")) == "bad token"
    with pytest.raises(FastpathHeaderError, match="reply.magic"):
        reply_missing(b"HTTP/1.1 400")
    with pytest.raises(FastpathHeaderError, match="reply.status"):
        reply_missing(b"NCFA\x07\x00\x00")


def test_header_values_are_checked_with_field_names() -> None:
    for kwargs, field in (
        ({"migration_id": "", "channel": 0, "token": bytes(32)}, "migration_id"),
        ({"migration_id": "x" * 256, "channel": 0, "token": bytes(32)}, "migration_id"),
        ({"migration_id": "m", "channel": 1024, "token": bytes(32)}, "channel"),
        ({"migration_id": "m", "channel": True, "token": bytes(32)}, "channel"),
        ({"migration_id": "m", "channel": 0, "token": b"short"}, "token"),
    ):
        with pytest.raises(InvalidInput) as err:
            FastpathHeader(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field
    with pytest.raises(InvalidInput) as err:
        FastpathHeader.signed("m", 0, b"weak")
    assert err.value.field == "secret"


def test_data_path_choice() -> None:
    dc = {"tls_required": False, "mode": "datacenter"}
    assert choose_data_path(fastpath_allowed=True, **dc).fastpath  # type: ignore[arg-type]
    assert not choose_data_path(fastpath_allowed=False, **dc).fastpath  # type: ignore[arg-type]
    assert not choose_data_path(fastpath_allowed=True, tls_required=True, mode="datacenter").fastpath
    assert not choose_data_path(fastpath_allowed=True, tls_required=False, mode="internet").fastpath
    measured = {"fastpath_allowed": True, "tls_required": False, "mode": "hybrid"}
    assert choose_data_path(**measured, link_bytes_per_s=3e9, compressor_bytes_per_s=4e8).fastpath  # type: ignore[arg-type]
    assert not choose_data_path(**measured, link_bytes_per_s=1e7, compressor_bytes_per_s=4e8).fastpath  # type: ignore[arg-type]
