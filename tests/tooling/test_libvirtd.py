"""libvirt daemons: the system one answers; private LibvirtHosts are separate hosts that run guests."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.tooling._cmd import run
from tests.tooling.guest import GuestImage, guest_memory_mib, kernel_cmdline
from tests.tooling.libvirtd import LibvirtHost, ensure_system_libvirtd, libvirt_skip_reason
from tests.tooling.netns import Testbed, testbed_skip_reason
from tests.tooling.serial_log import SerialLog

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(autouse=True)
def _needs_libvirt() -> None:
    if reason := libvirt_skip_reason():
        pytest.skip(reason)


def _domain_xml(name: str, image: GuestImage, serial: Path, wss_mb: int = 16) -> str:
    # type='qemu' (TCG) and <acpi/> (QEMU 10 with libvirt 9 needs it): see machine-facts.md.
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{guest_memory_mib(wss_mb)}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{image.kernel}</kernel><initrd>{image.initrd}</initrd>
    <cmdline>{kernel_cmdline(wss_mb, 5)}</cmdline></os>
  <features><acpi/></features>
  <devices>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <console type='file'><source path='{serial}'/><target type='serial' port='0'/></console>
  </devices>
</domain>"""


def test_system_libvirtd_answers() -> None:
    uri = ensure_system_libvirtd()
    assert uri == "qemu:///system"
    assert ensure_system_libvirtd() == uri  # idempotent
    assert re.search(r"Running hypervisor: QEMU \d+", run(["virsh", "-c", uri, "version"]).stdout)


def test_private_hosts_are_independent(tmp_path: Path) -> None:
    with LibvirtHost("alpha", tmp_path) as a, LibvirtHost("beta", tmp_path) as b:
        uuids = [re.search(r"<uuid>([^<]+)</uuid>", h.virsh("capabilities")).group(1) for h in (a, b)]  # type: ignore[union-attr]
        assert uuids == [a.host_uuid, b.host_uuid] and uuids[0] != uuids[1]
        assert a.virsh("hostname").strip() == "alpha" and b.virsh("hostname").strip() == "beta"
        assert a.uri == f"qemu+unix:///system?socket={tmp_path}/alpha/run/libvirt-sock"
        xml = tmp_path / "d.xml"
        xml.write_text(_domain_xml("only-on-alpha", _dummy_image(tmp_path), tmp_path / "s.log"))
        a.virsh("define", str(xml))
        assert "only-on-alpha" in a.virsh("list", "--all", "--name")
        assert "only-on-alpha" not in b.virsh("list", "--all", "--name")
        a_pid = a.pid
    assert a_pid is not None
    assert not Path(f"/proc/{a_pid}").exists() or _zombie(a_pid)  # stopped on leaving the block


def test_host_in_netns_runs_a_guest_and_stop_kills_it(guest_image: GuestImage, tmp_path: Path) -> None:
    if reason := testbed_skip_reason():
        pytest.skip(reason)
    with Testbed(2) as tb:
        host = LibvirtHost("gamma", tmp_path, netns=tb.ns(0))
        host.start()
        try:
            # libvirtd sees the namespace's link address, not the machine's interfaces.
            assert tb.addr(0) in run(["ip", "netns", "exec", tb.ns(0), "ip", "-br", "addr"]).stdout
            serial = tmp_path / "serial.log"
            xml = tmp_path / "g.xml"
            xml.write_text(_domain_xml("g1", guest_image, serial))
            host.virsh("create", str(xml))
            SerialLog(serial).wait_for(r"^READY", timeout=120)
            qemu_pid = int((host.run_dir / "qemu" / "g1.pid").read_text())
            assert _same_netns(qemu_pid, tb.ns(0))  # QEMU lives in the host's network namespace
        finally:
            host.stop()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{qemu_pid}").exists() and not _zombie(qemu_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{qemu_pid}").exists() or _zombie(qemu_pid)


def _same_netns(pid: int, ns: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _dummy_image(tmp_path: Path) -> GuestImage:
    """Defining (not starting) a domain needs no real kernel."""
    for name in ("vmlinuz", "initrd"):
        (tmp_path / name).write_bytes(b"")
    return GuestImage(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd", kernel_version="none")


@pytest.mark.slow
def test_live_migration_between_private_hosts_over_the_link(guest_image: GuestImage, tmp_path: Path) -> None:
    if reason := testbed_skip_reason():
        pytest.skip(reason)
    serial = tmp_path / "serial.log"
    xml = tmp_path / "m.xml"
    xml.write_text(_domain_xml("mig1", guest_image, serial, wss_mb=32))
    with (
        Testbed(2) as tb,
        LibvirtHost("src", tmp_path, netns=tb.ns(0)) as src,
        LibvirtHost("dst", tmp_path, netns=tb.ns(1)) as dst,
    ):
        src.virsh("create", str(xml))
        log = SerialLog(serial)
        log.wait_for(r"^READY", timeout=120)
        before = log.wait_for_heartbeat_after(0, timeout=30).counter
        # QEMU's migration stream crosses the test-bed link: the destination listens on its address.
        src.virsh("migrate", "--live", "mig1", dst.uri, f"tcp://{tb.addr(1)}:49152", "--bandwidth", "10000")
        assert "mig1" in dst.virsh("list", "--name").split()
        assert "mig1" not in src.virsh("list", "--name").split()
        log.wait_for_heartbeat_after(before + 5, timeout=60)  # it runs on at the destination
        assert log.kernel_errors() == [] and log.corruption() == []
