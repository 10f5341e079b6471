"""novacron.cloud.migration through ansible-playbook on a real two-host cluster (QEMU guests)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.conftest import play
from tests.integration.migration.cluster import Cluster, guest_spec, start_cluster
from tests.integration.migration.conftest import skip_reason
from tests.tooling.guest import build_guest

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]
VM = "ans-mig"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if reason := skip_reason():
        pytest.skip(reason)
    image = build_guest()
    c = start_cluster(Path(tempfile.mkdtemp(prefix="nc-ans-", dir="/var/tmp")))
    try:
        a = c.node("node-a")
        with a.client(timeout=180) as client:
            client.put_vm(guest_spec(image, VM, rate=4))
        a.console_log(VM).wait_for(r"^READY", timeout=180)
        yield c
    finally:
        c.close()


def test_migration_module_check_move_and_idempotence(cluster: Cluster, run_playbook) -> None:  # type: ignore[no-untyped-def]
    a, b = cluster.node("node-a"), cluster.node("node-b")
    assert a.agent is not None
    task = [{"name": "move", "novacron.cloud.migration": {"vm": VM, "node": "node-b", "max_downtime_ms": 300,
                                                           "wait_timeout": 300}}]

    checked = run_playbook(play(task, a.agent), "--check", "--diff")
    assert checked.rc == 0, checked.stdout[-3000:]
    res = checked.task_results("move")
    assert res["changed"] is True and res["source"] == "node-a"
    assert res["migration"]["id"].startswith("dry-run-") and res["diff"]["after"] == {"node": "node-b"}
    assert cluster.where(VM) is a  # check mode moved nothing

    moved = run_playbook(play(task, a.agent))
    assert moved.rc == 0, moved.stdout[-3000:]
    res = moved.task_results("move")
    assert res["changed"] is True and res["migration"]["phase"] == "completed"
    assert res["migration"]["progress"]["bytes_on_wire"] > 0
    assert cluster.where(VM) is b and b.store_owner(VM) == "node-b"

    again = run_playbook(play(task, a.agent))  # asked through node-a, which finds it on node-b
    assert again.rc == 0, again.stdout[-3000:]
    assert again.task_results("move")["changed"] is False
    assert again.stats()["changed"] == 0


def test_migration_module_unknown_node_names_the_field(cluster: Cluster, run_playbook) -> None:  # type: ignore[no-untyped-def]
    owner = cluster.where(VM)
    assert owner.agent is not None
    result = run_playbook(play([{"name": "bad", "novacron.cloud.migration": {"vm": VM, "node": "nowhere"}}],
                               owner.agent))
    assert result.rc != 0
    res = result.task_results("bad")
    assert "destination" in res["msg"] and res["field"] == "destination"
