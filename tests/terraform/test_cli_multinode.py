"""Two agents (libvirt test driver): the provider finds a VM wherever it runs, and checks `node`.

The migration itself needs real hosts: test_cli_migration.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def two_nodes(agent_factory: Any) -> tuple[Any, Any]:
    b = agent_factory("tf-node-b")
    a = agent_factory("tf-node-a", overrides={"peers": [{"node_id": "tf-node-b", "api_url": b.url}]})
    return a, b


def write(tf: Tf, a: Any, b: Any, node: str | None = None) -> None:
    placement = f'  node       = "{node}"\n' if node else ""
    tf.write(f'''
resource "novacron_vm" "app" {{
  name       = "tf-mover"
  memory_mib = 128
{placement}}}
''', endpoint=a.url, token=a.token,
             extra_provider=f'  peer {{\n    node_id  = "{b.node_id}"\n    endpoint = "{b.url}"\n'
                            f'    token    = "{b.token}"\n  }}\n')


def test_read_finds_the_vm_on_whichever_node_runs_it(tf: Tf, two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    write(tf, a, b)
    tf.init()
    tf.run("apply", "-auto-approve")
    assert tf.state("novacron_vm.app")["node"] == a.node_id
    # moved behind Terraform's back (as a migration would): gone from a, present on b
    spec = a.client().get_vm("tf-mover").model_dump(mode="json", exclude={"status"})
    a.client().delete_vm("tf-mover")
    b.client().put_vm(spec)
    tf.run("apply", "-refresh-only", "-auto-approve")
    assert tf.state("novacron_vm.app")["node"] == b.node_id
    assert "No changes." in tf.run("plan", "-detailed-exitcode")
    tf.run("destroy", "-auto-approve")
    assert b.client().get_vm("tf-mover") is None and a.client().get_vm("tf-mover") is None


def test_node_change_to_an_unknown_node_is_refused_at_plan(tf: Tf, two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    write(tf, a, b)
    tf.init()
    tf.run("apply", "-auto-approve")
    write(tf, a, b, node="tf-node-nowhere")
    unknown = tf.run("plan", expect=1)
    assert "Unknown node 'tf-node-nowhere'" in unknown and 'node       = "tf-node-nowhere"' in unknown
    assert "known nodes: tf-node-a, tf-node-b" in unknown
    assert a.client().get_vm("tf-mover").status.node == a.node_id, "a plan must not move anything"
