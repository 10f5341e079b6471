"""The real Terraform CLI through a whole VM lifecycle, checking the agent after every step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def vm_tf(name: str, memory: int, *, bus: str = "virtio", extra: str = "") -> str:
    return f'''
resource "novacron_vm" "web" {{
  name       = "{name}"
  memory_mib = {memory}
  vcpus      = 2
  labels     = {{ role = "web" }}

  disks {{
    name     = "root"
    size_gib = 1
    bus      = "{bus}"
  }}
  {extra}
}}
'''


DATA = '''
data "novacron_node" "here" {}

data "novacron_vm" "web" {
  name = novacron_vm.web.name
}

output "node_capacity_cpus" { value = data.novacron_node.here.capacity.cpus }
output "seen_memory" { value = data.novacron_vm.web.memory_mib }
output "seen_node" { value = data.novacron_vm.web.node }
'''


def test_vm_lifecycle_create_noop_update_in_place_import_destroy(tf: Tf, live_agent: Any) -> None:
    client = live_agent.client()
    name = "tf-web-1"
    tf.write(vm_tf(name, 256), endpoint=live_agent.url, token=live_agent.token)
    tf.init()

    created = tf.run("apply", "-auto-approve")  # apply prints the plan it carries out
    assert "novacron_vm.web will be created" in created and "Plan: 1 to add, 0 to change, 0 to destroy." in created
    vm = client.get_vm(name)
    assert vm is not None and (vm.memory_mib, vm.vcpus, vm.labels) == (256, 2, {"role": "web"})
    assert [d.name for d in vm.disks] == ["root"] and vm.disks[0].size_gib == 1
    state = tf.state("novacron_vm.web")
    assert state["uuid"] == vm.status.uuid and state["node"] == live_agent.node_id

    again = tf.run("plan", "-detailed-exitcode")
    assert "No changes." in again

    # memory change: an in-place update of the same VM, never a replacement
    tf.write(vm_tf(name, 512) + DATA, endpoint=live_agent.url, token=live_agent.token)
    applied = tf.run("apply", "-auto-approve")
    assert "novacron_vm.web will be updated in-place" in applied
    assert "~ memory_mib" in applied and "256 -> 512" in applied
    assert "must be replaced" not in applied and "forces replacement" not in applied
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in applied
    after = client.get_vm(name)
    assert after is not None and after.memory_mib == 512
    assert after.status.uuid == vm.status.uuid, "the VM was rebuilt instead of updated"
    assert 'seen_memory = 512' in applied and f'seen_node = "{live_agent.node_id}"' in applied
    assert "node_capacity_cpus = " in applied
    assert "No changes." in tf.run("plan", "-detailed-exitcode")

    # a disk bus change truly needs a rebuild: the plan says so on that attribute
    tf.write(vm_tf(name, 512, bus="sata") + DATA, endpoint=live_agent.url, token=live_agent.token)
    plan = tf.run("plan")
    assert "must be replaced" in plan and "forces replacement" in plan
    bus_line = next(line for line in plan.out.splitlines() if "bus" in line and "->" in line)
    assert "forces replacement" in bus_line, plan.out
    assert client.get_vm(name).disks[0].bus == "virtio", "plan must not change anything"

    # import by name: state forgotten, imported back, and the plan is clean again
    tf.write(vm_tf(name, 512) + DATA, endpoint=live_agent.url, token=live_agent.token)
    tf.run("state", "rm", "novacron_vm.web")
    imported = tf.run("import", "novacron_vm.web", name)
    assert "Import successful!" in imported
    assert tf.state("novacron_vm.web")["memory_mib"] == 512
    assert "No changes." in tf.run("plan", "-detailed-exitcode")

    destroyed = tf.run("destroy", "-auto-approve")
    assert "Destroy complete! Resources: 1 destroyed." in destroyed
    assert client.get_vm(name) is None


def test_import_of_a_missing_vm_fails_with_a_clear_message(tf: Tf, live_agent: Any) -> None:
    tf.write(vm_tf("tf-ghost", 256), endpoint=live_agent.url, token=live_agent.token)
    tf.init()
    result = tf.run("import", "novacron_vm.web", "tf-ghost", expect=1)
    assert "Cannot import non-existent VM" in result and "tf-ghost" in result


def test_vm_deleted_outside_terraform_is_planned_for_creation(tf: Tf, live_agent: Any) -> None:
    client = live_agent.client()
    name = "tf-gone"
    tf.write(vm_tf(name, 128), endpoint=live_agent.url, token=live_agent.token)
    tf.init()
    tf.run("apply", "-auto-approve")
    client.delete_vm(name)
    plan = tf.run("plan", "-detailed-exitcode", expect=2)
    assert "novacron_vm.web will be created" in plan
