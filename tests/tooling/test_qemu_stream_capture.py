"""HDE's QEMU framing on a stream this machine's QEMU really sent: the splitter must find the pages,
and encode -> decode must be bit-exact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.dwcp.hde.qemu_records import RAW, QemuRecordSplitter
from tests.tooling._cmd import missing_tools
from tests.tooling.guest import GuestImage
from tests.tooling.qemu_stream_capture import cached_capture, capture_precopy

MIB = 1 << 20


@pytest.mark.integration
@pytest.mark.slow
def test_real_precopy_stream_is_split_into_pages_and_round_trips(guest_image: GuestImage, tmp_path: Path) -> None:
    if missing := missing_tools("qemu-system-x86_64"):
        pytest.skip(f"missing {', '.join(missing)}")
    stream_path = tmp_path / "precopy.stream"
    info = capture_precopy(guest_image, stream_path, wss_mb=32, rate_mbps=20, memory_mib=256)
    data = stream_path.read_bytes()
    assert len(data) == info["ram"]["transferred"] and data[:4] == b"QEVM"

    splitter = QemuRecordSplitter()
    tokens = [t for i in range(0, len(data), MIB) for t in splitter.feed(data[i : i + MIB])] + splitter.flush()
    assert b"".join(raw + page for _, raw, page in tokens) == data
    assert splitter.page_bytes >= 0.9 * len(data), f"only {splitter.page_bytes / len(data):.1%} found as pages"
    assert b"pc.ram" in splitter.blocks
    pages = [key for key, _, _ in tokens if key != RAW]
    assert len(pages) == info["ram"]["normal"]  # every page QEMU sent whole, none invented
    assert all(key & 0xFFF < len(splitter.blocks) for key in pages)

    enc = HdeEncoder(framing="qemu", level=1, mode="always", dict_capacity=256 * MIB // 4096)
    wire = b"".join([f for i in range(0, len(data), MIB) for f in enc.encode(data[i : i + MIB])] + enc.flush())
    dec = HdeDecoder()
    out = [dec.feed(wire[i : i + MIB]) for i in range(0, len(wire), MIB)]
    while dec.has_backlog:
        out.append(dec.feed(b""))
    dec.close()
    assert b"".join(out) == data
    assert enc.stats.delta_chunks > 0  # rewrite passes found the previous version by address
    shutil.copyfile(stream_path, cached_capture())  # for benchmarks/hde_qemu.py
