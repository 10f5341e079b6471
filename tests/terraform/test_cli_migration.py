"""Changing `node` live-migrates the VM in place, through the real Terraform CLI.

Two real hosts (network namespaces, a private libvirtd each, agents with DWCP over mutual TLS:
tests/integration/migration/cluster.py) and a real QEMU guest whose serial heartbeat must go on
at the destination. Terraform must plan an in-place update, the VM must keep its UUID, and the
next plan must find it on its new node with no changes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]
VM = "tf-mig"


@pytest.fixture(scope="module")
def cluster_and_guest() -> Iterator[tuple[Any, Any]]:
    from tests.integration.migration.cluster import start_cluster
    from tests.tooling.guest import build_guest, guest_skip_reason
    from tests.tooling.libvirtd import libvirt_skip_reason
    from tests.tooling.netns import testbed_skip_reason

    if reason := libvirt_skip_reason() or testbed_skip_reason() or guest_skip_reason():
        pytest.skip(reason)
    guest = build_guest()
    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="nc-tf-mig-", dir="/var/tmp")))
    try:
        yield cluster, guest
    finally:
        cluster.close()


def vm_tf(guest: Any, node: str) -> str:
    from tests.integration.migration.cluster import guest_spec

    spec = guest_spec(guest, VM)
    boot = spec["boot"]
    return f'''
resource "novacron_vm" "mover" {{
  name       = "{VM}"
  vcpus      = 1
  memory_mib = {spec["memory_mib"]}
  node       = "{node}"

  boot {{
    kernel  = "{boot["kernel"]}"
    initrd  = "{boot["initrd"]}"
    cmdline = "{boot["cmdline"]}"
  }}
}}
'''


def test_changing_node_live_migrates_in_place(tf: Tf, cluster_and_guest: tuple[Any, Any]) -> None:
    cluster, guest = cluster_and_guest
    a, b = cluster.node("node-a"), cluster.node("node-b")
    assert a.agent is not None
    peer = f'  peer {{\n    endpoint = "{b.url}"\n  }}\n'  # the cluster's agents share a signing key
    tf.write(vm_tf(guest, "node-a"), endpoint=a.url, token=a.agent.token, extra_provider=peer)
    tf.init()
    tf.run("apply", "-auto-approve")
    a.console_log(VM).wait_for(r"^READY", timeout=180)
    beat = a.console_log(VM).wait_for_heartbeat_after(-1, timeout=60).counter
    uuid = a.client().get_vm(VM).status.uuid

    tf.write(vm_tf(guest, "node-b"), endpoint=a.url, token=a.agent.token, extra_provider=peer)
    moved = tf.run("apply", "-auto-approve", timeout=600)
    assert "novacron_vm.mover will be updated in-place" in moved
    assert '~ node' in moved and '"node-a" -> "node-b"' in moved
    assert "must be replaced" not in moved and "0 destroyed" in moved
    assert cluster.where(VM) is b and a.virsh_state(VM) == "missing"
    log = b.console_log(VM)
    log.wait_for_heartbeat_after(beat + 3, timeout=60)  # the same guest runs on, unharmed
    assert log.kernel_errors() == [] and log.corruption() == []
    after = b.client().get_vm(VM)
    assert after is not None and after.status.node == "node-b" and after.status.uuid == uuid
    assert tf.state("novacron_vm.mover")["node"] == "node-b"

    assert "No changes." in tf.run("plan", "-detailed-exitcode")  # found on its new node
    tf.run("destroy", "-auto-approve")
    assert b.client().get_vm(VM) is None and a.client().get_vm(VM) is None
