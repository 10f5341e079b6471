"""Live migration over DWCP between two real hosts: idle and writing guests, with and without
multifd, each v3 flag off, and the CLI. After each move the guest must run on the destination
(its serial heartbeat goes on, no oops, no corrupted page), be gone from the source's libvirt,
and both agents' stores must name the destination as the owner.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import libvirt
import libvirt_qemu
import pytest

from novacron_sdk.models.migration import Migration, MigrationRequest
from novacron_sdk.models.mode import ModeSettings
from tests.integration.migration.cluster import Cluster, Node, guest_spec, wait_until
from tests.tooling.agent import VENV_BIN
from tests.tooling.guest import GuestImage

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]

IDLE, BUSY = "mig-idle", "mig-busy"


@pytest.fixture(scope="module")
def vms(cluster: Cluster, guest: GuestImage) -> dict[str, str]:
    """Two guests on node-a: one idle, one rewriting its 64 MiB working set at 16 MiB/s."""
    a = cluster.node("node-a")
    with a.client(timeout=180) as c:
        c.put_vm(guest_spec(guest, IDLE, rate=0))
        c.put_vm(guest_spec(guest, BUSY, rate=16))
    for vm in (IDLE, BUSY):
        a.console_log(vm).wait_for(r"^READY", timeout=180)
        a.console_log(vm).wait_for_heartbeat_after(0, timeout=60)
    return {IDLE: "node-a", BUSY: "node-a"}


def migrate(cluster: Cluster, vm: str, **options: Any) -> tuple[Node, Node, Migration]:
    """Move `vm` to the other node and wait; returns (source, destination, final migration)."""
    src = cluster.where(vm)
    dst = cluster.other(src)
    with src.client() as c:
        m = c.create_migration(MigrationRequest(vm=vm, destination=dst.node_id, options=options))
        assert m.phase in ("pending", "preparing") and m.source == src.node_id
        m = wait_until(lambda: _done(c.get_migration(m.id)), 240, f"migration of {vm}", poll=0.5)
    return src, dst, m


def _done(m: Migration) -> Migration | None:
    return m if m.phase in ("completed", "failed", "cancelled") else None


def assert_moved(cluster: Cluster, vm: str, src: Node, dst: Node, m: Migration, beat_before: int) -> None:
    assert m.phase == "completed", m.error
    # libvirt's own view: runs at the destination, gone from the source
    assert dst.virsh_state(vm) == "running"
    assert src.virsh_state(vm) == "missing"
    # the guest runs on: new heartbeats in the destination's console log, nothing broken
    log = dst.console_log(vm)
    log.wait_for_heartbeat_after(beat_before + 3, timeout=60)
    assert log.kernel_errors() == [] and log.corruption() == []
    # both stores agree on the owner, and both agents know the migration completed
    assert dst.store_owner(vm) == dst.node_id
    assert src.store_owner(vm) is None
    with dst.client() as c:
        vm_doc = c.get_vm(vm)
        assert vm_doc is not None and vm_doc.status.node == dst.node_id and vm_doc.status.actual_state == "running"
        assert c.get_migration(m.id).phase == "completed"
        assert c.locate_vm(vm)["node"] == dst.node_id
    with src.client() as c:
        assert c.get_vm(vm) is None
        assert c.locate_vm(vm) == {"vm": vm, "node": dst.node_id, "api_url": dst.peer_url}
    p = m.progress
    assert p.bytes_sent > 0 and p.bytes_on_wire > 0 and p.downtime_ms is not None
    assert p.bytes_total > 0 and p.elapsed_s > 0


def last_beat(node: Node, vm: str) -> int:
    """The newest heartbeat counter in `vm`'s console log on `node` (waiting for one if needed)."""
    log = node.console_log(vm)
    log.wait_for_heartbeat_after(-1, timeout=30)
    last = log.last_heartbeat()
    assert last is not None
    return last.counter


def test_idle_guest_migrates_over_dwcp(cluster: Cluster, vms: dict[str, str]) -> None:
    src = cluster.where(IDLE)
    before = last_beat(src, IDLE)
    src, dst, m = migrate(cluster, IDLE)
    assert_moved(cluster, IDLE, src, dst, m, before)
    assert m.progress.streams >= 1


def test_writing_guest_migrates_and_back(cluster: Cluster, vms: dict[str, str]) -> None:
    for _ in range(2):  # there and back: each node is source once
        src = cluster.where(BUSY)
        before = last_beat(src, BUSY)
        src, dst, m = migrate(cluster, BUSY, max_downtime_ms=300)
        assert_moved(cluster, BUSY, src, dst, m, before)
        assert m.progress.dirty_rate_bps >= 0


def _plan_line(node: Node, mig_id: str) -> str:
    """The source agent's log line that says how the migration's bytes were carried."""
    assert node.agent is not None
    lines = [ln for ln in node.agent.output if f"migration {mig_id} of " in ln]
    assert lines, f"no plan line for {mig_id}"
    return lines[-1]


def test_datacenter_default_rides_tls_pipes_and_asked_streams_ride_amst(cluster: Cluster, vms: dict[str, str]) -> None:
    """The datacenter path is the TLS pipe (dwcp/tunnel/pipe.py); asking for streams keeps AMST."""
    src = cluster.where(BUSY)
    before = last_beat(src, BUSY)
    src, dst, m = migrate(cluster, BUSY)
    assert_moved(cluster, BUSY, src, dst, m, before)
    assert "TLS pipe per QEMU connection" in _plan_line(src, m.id)
    assert m.progress.streams == 1 and m.progress.bytes_sent > 0
    before = last_beat(dst, BUSY)
    src, dst, m = migrate(cluster, BUSY, streams=4)
    assert_moved(cluster, BUSY, src, dst, m, before)
    assert "4 stream(s)" in _plan_line(src, m.id)
    assert m.progress.streams >= 4


def test_writing_guest_with_multifd(cluster: Cluster, vms: dict[str, str]) -> None:
    src = cluster.where(BUSY)
    before = last_beat(src, BUSY)
    src, dst, m = migrate(cluster, BUSY, multifd_channels=4)
    assert_moved(cluster, BUSY, src, dst, m, before)
    # one channel per QEMU connection (main + 4 multifd), each with at least one stream
    assert m.progress.streams >= 5
    # QEMU compressed in its multifd threads (zstd): the destination QEMU was started for it
    assert _qemu_migrate_parameters(dst, BUSY)["multifd-compression"] == "zstd"
    # back without compression: the source is reset and the preset is replaced, not stacked
    before = last_beat(dst, BUSY)
    src, dst, m = migrate(cluster, BUSY, multifd_channels=2, compression="none")
    assert_moved(cluster, BUSY, src, dst, m, before)
    assert _qemu_migrate_parameters(dst, BUSY)["multifd-compression"] == "none"


def _qemu_migrate_parameters(node: Node, vm: str) -> dict[str, Any]:
    conn = libvirt.open(node.libvirt.uri)
    try:
        cmd = json.dumps({"execute": "query-migrate-parameters"})
        return json.loads(libvirt_qemu.qemuMonitorCommand(conn.lookupByName(vm), cmd, 0))["return"]
    finally:
        conn.close()


@pytest.mark.parametrize("flag", ["enable_v3_transport", "enable_v3_compression"])
def test_migrates_with_each_v3_flag_off(cluster: Cluster, vms: dict[str, str], flag: str) -> None:
    src = cluster.where(IDLE)
    with src.client() as c:
        c.put_mode(ModeSettings.model_validate({flag: False, "mode": "internet"}))  # internet: HDE would be on
    try:
        before = last_beat(src, IDLE)
        src, dst, m = migrate(cluster, IDLE)
        assert_moved(cluster, IDLE, src, dst, m, before)
        if flag == "enable_v3_transport":
            assert m.progress.streams == 1  # one plain TCP stream, no striping
        else:
            assert m.progress.compression_ratio == pytest.approx(1.0, abs=0.05)  # raw bytes, AMST framing only
    finally:
        with src.client() as c:
            c.put_mode(ModeSettings.model_validate({flag: True, "mode": "auto"}))


def test_compression_on_constrained_settings(cluster: Cluster, vms: dict[str, str]) -> None:
    """Forced zstd: the tunnel carries fewer bytes than QEMU sent (real guest memory compresses)."""
    src = cluster.where(BUSY)
    before = last_beat(src, BUSY)
    src, dst, m = migrate(cluster, BUSY, compression="zstd")
    assert_moved(cluster, BUSY, src, dst, m, before)
    assert m.progress.compression_ratio > 1.2
    assert m.progress.bytes_on_wire < m.progress.bytes_sent


def test_metrics_count_migrations(cluster: Cluster, vms: dict[str, str]) -> None:
    text = httpx.get(cluster.node("node-a").metrics_url, timeout=10).text
    completed = [line for line in text.splitlines() if line.startswith('novacron_migrations_total{result="completed"}')]
    assert completed and float(completed[0].split()[-1]) >= 1
    assert "dwcp_compression_ratio " in text and "dwcp_bandwidth_utilization_percent " in text


def test_cli_migrate_shows_progress_and_moves(cluster: Cluster, vms: dict[str, str]) -> None:
    """`novacron migrate VM NODE`, run on a host of the cluster (it reaches peers over the link)."""
    src = cluster.where(IDLE)
    dst = cluster.other(src)
    before = last_beat(src, IDLE)
    assert src.agent is not None
    cmd = ["ip", "netns", "exec", src.ns, str(VENV_BIN / "novacron"), "migrate", IDLE, dst.node_id,
           "--url", dst.peer_url, "--token", src.agent.token]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "%" in out.stdout and f"now runs on {dst.node_id}" in out.stdout
    mig_id = out.stdout.split()[1].rstrip(":")
    with src.client() as c:
        m = c.get_migration(mig_id)
    assert_moved(cluster, IDLE, src, dst, m, before)
