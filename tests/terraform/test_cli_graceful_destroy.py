"""Destroy is a graceful ACPI shutdown with a timeout, never a silent hard power-off.

A real QEMU guest (libvirt qemu:///system, TCG) with no disk and no kernel sits in the firmware
and ignores the power button: destroy must fail after the agent's shutdown timeout, leaving the
VM running, and name `force_stop` as the way out; with force_stop = true it powers off.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from tests.terraform.conftest import Tf
from tests.tooling.libvirtd import ensure_system_libvirtd, libvirt_skip_reason

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def qemu_agent(agent_factory: Any) -> Iterator[Any]:
    if reason := libvirt_skip_reason():
        pytest.skip(reason)
    uri = ensure_system_libvirtd()
    # The system libvirtd outlives the test: a pool of our own, undefined afterwards, so that no
    # "default" pool pointing into a deleted tmp dir is left for the next run to trip over.
    pool = f"nvtf-{uuid.uuid4().hex[:8]}"
    agent = agent_factory("tf-qemu", overrides={"hypervisor": {"uri": uri, "accel": "tcg", "storage_pool": pool,
                                                               "shutdown_timeout_s": 3}})
    yield agent
    client = agent.client()
    if client.get_vm("tf-stubborn") is not None:  # a failed assertion must not leak a guest
        client.delete_vm("tf-stubborn", force_stop=True)
    conn = libvirt.open(uri)
    try:
        leftover = conn.storagePoolLookupByName(pool)
        if leftover.isActive():
            leftover.destroy()
        leftover.undefine()
    finally:
        conn.close()


def body(force_stop: bool) -> str:
    return f'''
resource "novacron_vm" "stubborn" {{
  name       = "tf-stubborn"
  memory_mib = 64
  force_stop = {str(force_stop).lower()}
}}
'''


def test_destroy_shuts_down_gracefully_and_only_forces_when_told(tf: Tf, qemu_agent: Any) -> None:
    client = qemu_agent.client()
    tf.write(body(False), endpoint=qemu_agent.url, token=qemu_agent.token)
    tf.init()
    tf.run("apply", "-auto-approve")
    assert client.get_vm("tf-stubborn").status.actual_state == "running"

    failed = tf.run("destroy", "-auto-approve", expect=1)
    assert "did not act on the ACPI power button" in failed.out.replace("\n", " ")
    assert "force_stop = true" in failed.out.replace("\n", " ")
    still = client.get_vm("tf-stubborn")
    assert still is not None and still.status.actual_state == "running", "destroy powered the guest off"
    assert tf.state("novacron_vm.stubborn")["name"] == "tf-stubborn", "the VM must stay in the state"

    tf.write(body(True), endpoint=qemu_agent.url, token=qemu_agent.token)
    updated = tf.run("apply", "-auto-approve")
    assert "~ force_stop" in updated and "must be replaced" not in updated
    tf.run("destroy", "-auto-approve")
    assert client.get_vm("tf-stubborn") is None
