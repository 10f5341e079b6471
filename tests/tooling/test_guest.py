"""The test guest: its command line, its workload program (run on the host), and a real boot."""

from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.tooling._cmd import missing_tools
from tests.tooling.guest import SRC, GuestImage, build_guest, guest_memory_mib, kernel_cmdline
from tests.tooling.qemu_direct import DirectGuest

PAGE = 4096


def test_kernel_cmdline_carries_workload_settings() -> None:
    line = kernel_cmdline(256, 30)
    assert "console=ttyS0,115200" in line.split()
    assert {"novacron.wss_mb=256", "novacron.rate_mbps=30"} <= set(line.split())
    assert guest_memory_mib(256) > 256


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"wss_mb": 0}, "wss_mb"),
        ({"wss_mb": 1.5}, "wss_mb"),
        ({"rate_mbps": -1}, "rate_mbps"),
        ({"heartbeat_ms": 1}, "heartbeat_ms"),
        ({"mutate_bytes": 5000}, "mutate_bytes"),
        ({"extra": ["two words"]}, "extra"),
    ],
)
def test_kernel_cmdline_rejects_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        kernel_cmdline(**kwargs)


@pytest.fixture(scope="module")
def wss_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if missing_tools("gcc"):
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("wss") / "wss"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(SRC / "wss.c")], check=True)
    return out


def test_workload_dirties_memory_with_realistic_content(wss_binary: Path, tmp_path: Path) -> None:
    dump = tmp_path / "wss.dump"
    corpus = ":".join(p for p in ("/bin/sh", "/usr/share/common-licenses", str(SRC)) if Path(p).exists())
    proc = subprocess.run(
        [str(wss_binary), "novacron.wss_mb=8", "novacron.rate_mbps=16", "novacron.heartbeat_ms=100",
         "novacron.duration_s=1", f"novacron.corpus={corpus}", f"novacron.ready_file={tmp_path / 'ready'}",
         f"novacron.dump_file={dump}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out = proc.stdout
    assert out.startswith("WSS-FILLED wss_mb=8 rate_mbps=16")
    beats = [
        tuple(map(int, m))
        for m in re.findall(r"^HEARTBEAT (\d+) \S+ dirtied_mb=(\d+) corrupt=(\d+)", out, re.M)
    ]
    assert [b[0] for b in beats] == list(range(len(beats))) and len(beats) >= 5
    assert beats[-1][1] > 0  # it did rewrite pages
    assert all(b[2] == 0 for b in beats) and "CORRUPTION" not in out
    assert (tmp_path / "ready").exists()
    data = dump.read_bytes()
    pages = [data[i : i + PAGE] for i in range(0, len(data), PAGE)]
    assert len(pages) == 8 * 256
    assert not any(p == bytes(PAGE) for p in pages)  # no zero pages
    assert len(set(pages)) == len(pages)  # no two pages alike
    ratio = len(data) / len(zlib.compress(data, 1))
    assert 1.1 < ratio < 20  # compresses like code and text do: neither random nor trivial


def _qemu_skip() -> str | None:
    if missing := missing_tools("qemu-system-x86_64"):
        return f"missing {', '.join(missing)}"
    return None


@pytest.mark.integration
@pytest.mark.slow
def test_guest_boots_under_tcg_heartbeats_and_powers_off_on_acpi(
    guest_image: GuestImage, tmp_path: Path
) -> None:
    if reason := _qemu_skip():
        pytest.skip(reason)
    assert guest_image.kernel.stat().st_size > 1_000_000 and guest_image.initrd.stat().st_size > 100_000
    with DirectGuest(
        guest_image, tmp_path, memory_mib=guest_memory_mib(32), cmdline=kernel_cmdline(32, 10)
    ) as g:
        g.serial.wait_for(r"^READY", timeout=90)
        first = g.serial.wait_for_heartbeat_after(0, timeout=30)
        later = g.serial.wait_for_heartbeat_after(first.counter + 3, timeout=30)
        assert later.uptime > first.uptime
        assert g.serial.kernel_errors() == [] and g.serial.corruption() == []
        g.qmp("system_powerdown")  # the ACPI power button
        g.serial.wait_for(r"^ACPI power button pressed", timeout=30)
        g.serial.wait_for(r"^POWEROFF", timeout=30)
        assert g.wait(timeout=30) == 0  # QEMU exits by itself once the guest powered off
        assert "WSS-STOP signal=15" in g.serial.text()


def test_build_reuses_the_cache(guest_image: GuestImage) -> None:
    built_at = guest_image.initrd.stat().st_mtime_ns
    again = build_guest(guest_image.initrd.parent)
    assert again == guest_image
    assert guest_image.initrd.stat().st_mtime_ns == built_at  # not rebuilt
