"""The QEMU record splitter: page bodies with the right guest address, the rest raw, whatever the
splits, and never a lost or invented byte, even on garbage."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novacron.dwcp.hde.qemu_records import RAW, QemuRecordSplitter
from tests.unit.dwcp.hde_strategies import QPAGE, QemuStream, cut, splits, synthetic_migration

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAM, ROM = b"pc.ram", b"/rom@etc/acpi/tables"


def flat(tokens: list[tuple[int, bytes, bytes]]) -> list[tuple[int, bytes]]:
    """(RAW, bytes) and (key, page) pieces in stream order."""
    out: list[tuple[int, bytes]] = []
    for key, raw, pg in tokens:
        if raw:
            out.append((RAW, raw))
        if key != RAW:
            out.append((key, pg))
        else:
            assert pg == b""
    return out


def split_all(data: bytes, pieces: list[bytes] | None = None) -> tuple[list[tuple[int, bytes]], QemuRecordSplitter]:
    sp = QemuRecordSplitter()
    tokens = [t for piece in (pieces if pieces is not None else [data]) for t in sp.feed(piece)]
    return flat(tokens + sp.flush()), sp


def page(seed: int) -> bytes:
    return random.Random(seed).randbytes(QPAGE)


def hand_built() -> tuple[bytes, list[tuple[int, bytes]]]:
    qs = QemuStream({RAM: 64 * QPAGE, ROM: 2 * QPAGE}).start()
    qs.section([(RAM, 0, page(1)), (RAM, QPAGE, None), (RAM, 5 * QPAGE, page(2)), (ROM, QPAGE, page(3))])
    qs.section([(ROM, 0, page(4)), (RAM, 5 * QPAGE, page(5)), (RAM, 63 * QPAGE, page(6))], end=True)
    qs.device_state(500)
    # block index = first-seen order of the ramblock names: pc.ram 0, the ROM 1
    expected = [
        (0 | 0, page(1)), (5 * QPAGE | 0, page(2)), (QPAGE | 1, page(3)),
        (0 | 1, page(4)), (5 * QPAGE | 0, page(5)), (63 * QPAGE | 0, page(6)),
    ]  # fmt: skip
    return bytes(qs.out), expected


def pages_of(tokens: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    return [t for t in tokens if t[0] != RAW]


def test_hand_built_stream_yields_page_keys_and_bodies() -> None:
    data, expected = hand_built()
    tokens, sp = split_all(data)
    assert pages_of(tokens) == expected
    assert b"".join(t[1] for t in tokens) == data
    assert sp.section_id == (2).to_bytes(4, "big") and sp.blocks == {RAM: 0, ROM: 1}
    assert sp.page_bytes == 6 * QPAGE and sp.raw_bytes == len(data) - 6 * QPAGE


def test_byte_by_byte_feeding_finds_the_same_pages() -> None:
    data, expected = hand_built()
    tokens, _ = split_all(data, [data[i : i + 1] for i in range(len(data))])
    assert pages_of(tokens) == expected
    assert b"".join(t[1] for t in tokens) == data


@FAST
@given(seed=st.integers(0, 2**32), cuts=st.data())
def test_any_split_gives_the_same_pages(seed: int, cuts: st.DataObject) -> None:
    data, qs = synthetic_migration(seed, 24, passes=2, dirty_share=0.5)
    tokens, _ = split_all(data, cut(data, cuts.draw(splits(len(data), max_pieces=30))))
    assert b"".join(t[1] for t in tokens) == data
    assert [len(t[1]) for t in pages_of(tokens)] == [QPAGE] * len(qs.page_spans)
    assert [t[1] for t in pages_of(tokens)] == [data[at : at + QPAGE] for _, _, at in qs.page_spans]


def test_zero_page_runs_and_multifd_flush_are_raw() -> None:
    qs = QemuStream({RAM: 4096 * QPAGE}).start()
    qs.section([(RAM, i * QPAGE, None) for i in range(3000)] + [(RAM, 3000 * QPAGE, page(9))])
    qs.out += (0x200).to_bytes(8, "big")  # MULTIFD_FLUSH between sections
    qs.section([(RAM, 7 * QPAGE, page(10))])
    tokens, _ = split_all(bytes(qs.out))
    assert pages_of(tokens) == [(3000 * QPAGE, page(9)), (7 * QPAGE, page(10))]


@FAST
@given(blob=st.binary(max_size=6000), cuts=st.data())
def test_garbage_is_passed_through_unchanged(blob: bytes, cuts: st.DataObject) -> None:
    data, _ = hand_built()
    for stream in (blob, data[:300] + blob + data[300:], data[: len(data) // 2] + blob):
        tokens, _ = split_all(stream, cut(stream, cuts.draw(splits(len(stream)))))
        assert b"".join(t[1] for t in tokens) == stream
        assert all(len(t[1]) == QPAGE for t in pages_of(tokens))


def test_unknown_flags_drop_back_to_scanning_then_resync() -> None:
    qs = QemuStream({RAM: 64 * QPAGE}).start()
    qs.section([(RAM, 0, page(1))])
    qs.out += bytes([2]) + (2).to_bytes(4, "big") + (0x40 | 0x20).to_bytes(8, "big") + b"xbzrle..."
    qs.section([(RAM, QPAGE, page(2))])
    tokens, _ = split_all(bytes(qs.out))
    assert pages_of(tokens) == [(0, page(1)), (QPAGE, page(2))]


def test_flush_mid_page_releases_everything_and_keeps_the_parser_in_place() -> None:
    data, expected = hand_built()
    sp = QemuRecordSplitter()
    cut_at = data.index(page(2)) + 100  # inside the second page body
    tokens = flat(sp.feed(data[:cut_at]) + sp.flush())
    assert b"".join(t[1] for t in tokens) == data[:cut_at]
    rest = flat(sp.feed(data[cut_at:]) + sp.flush())
    assert b"".join(t[1] for t in tokens + rest) == data
    assert pages_of(rest) == expected[2:]  # the cut page goes raw, the next ones are found again
    assert sp.page_bytes + sp.raw_bytes == len(data)


@FAST
@given(seed=st.integers(0, 2**32), cuts=st.data(), flushes=st.lists(st.integers(0, 40), max_size=4))
def test_flushes_never_misplace_a_page(seed: int, cuts: st.DataObject, flushes: list[int]) -> None:
    data, qs = synthetic_migration(seed, 16, passes=2, dirty_share=0.5)
    index = {name: i for i, name in enumerate(dict.fromkeys(block for block, _, _ in qs.page_spans))}
    truth = {at: offset | index[block] for block, offset, at in qs.page_spans}
    sp = QemuRecordSplitter()
    tokens: list[tuple[int, bytes, bytes]] = []
    for i, piece in enumerate(cut(data, cuts.draw(splits(len(data), max_pieces=30)))):
        tokens += sp.feed(piece)
        if i in flushes:
            tokens += sp.flush()
    tokens += sp.flush()
    at, found = 0, 0
    for key, chunk in flat(tokens):
        if key != RAW:
            assert truth.get(at) == key  # a real page body, under its own address
            found += 1
        at += len(chunk)
    assert at == len(data) and sp.page_bytes == found * QPAGE == len(data) - sp.raw_bytes
    if not flushes:
        assert found == len(truth)


def test_flush_right_after_a_page_header_keeps_the_page() -> None:
    data, expected = hand_built()
    at = data.index(page(2))  # the header of page 2 has arrived, none of its body
    sp = QemuRecordSplitter()
    tokens = flat(sp.feed(data[:at]) + sp.flush() + sp.feed(data[at:]) + sp.flush())
    assert b"".join(t[1] for t in tokens) == data
    assert pages_of(tokens) == expected
