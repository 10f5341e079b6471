"""SerialLog parses what the guest prints, tolerates partial lines, and fails fast on oopses."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.tooling.serial_log import SerialLog, SerialTimeout

BOOT = "SeaBIOS\r\n[    0.000000] Linux version 6.1.0\r\nINIT start\r\n"


def test_missing_file_is_empty(tmp_path: Path) -> None:
    log = SerialLog(tmp_path / "nope.log")
    assert log.text() == "" and log.last_heartbeat() is None and log.heartbeat_count() == -1


def test_heartbeats_and_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    path.write_text(
        BOOT
        + "HEARTBEAT 0 3.607 dirtied_mb=0 corrupt=0\nREADY x\nHEARTBEAT 1 3.808 dirtied_mb=4 corrupt=0\nHEARTBEAT 2 4.0"
    )
    log = SerialLog(path)
    beats = log.heartbeats()
    assert [b.counter for b in beats] == [0, 1]  # the unfinished third line is not counted yet
    assert beats[1].uptime == pytest.approx(3.808) and beats[1].dirtied_mb == 4 and beats[1].corrupt == 0
    assert log.wait_for(r"^READY", timeout=1).group(0) == "READY"


def test_wait_for_sees_text_appended_later(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    path.write_text(BOOT)

    def later() -> None:
        time.sleep(0.3)
        with open(path, "a") as fh:
            fh.write("HEARTBEAT 7 9.000\n")

    threading.Thread(target=later).start()
    log = SerialLog(path)
    assert log.wait_for_heartbeat_after(5, timeout=10).counter == 7


def test_timeout_reports_tail(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    path.write_text(BOOT)
    with pytest.raises(SerialTimeout, match="INIT start"):
        SerialLog(path).wait_for("^READY", timeout=0.3)


def test_kernel_oops_fails_fast_and_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    path.write_text(
        BOOT + "[   12.1] BUG: unable to handle page fault for address: 0000\n[   12.2] Oops: 0000 [#1]\n"
    )
    log = SerialLog(path)
    start = time.monotonic()
    with pytest.raises(SerialTimeout, match="kernel error"):
        log.wait_for("^READY", timeout=30)
    assert time.monotonic() - start < 10
    assert len(log.kernel_errors()) == 2


def test_corruption_lines(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    path.write_text("CORRUPTION page=12 expected=00ff found=0f0f\nHEARTBEAT 3 1.0 dirtied_mb=1 corrupt=1\n")
    log = SerialLog(path)
    assert log.corruption() == ["CORRUPTION page=12 expected=00ff found=0f0f"]
    assert log.last_heartbeat().corrupt == 1  # type: ignore[union-attr]
