"""A change of `node` is a live migration, on a real two-node cluster: network namespaces, a
libvirtd per host, QEMU test guests (the migration tests' cluster). Also: a refresh after an
out-of-band migration reports the VM's new node, and the next diff is an update back.

Skipped where that cluster cannot run, or while the agents do not serve /api/v1/migrations.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.proto import provider_pb2

from novacron_sdk.models.migration import MigrationRequest
from tests.pulumi.harness import ProviderProcess, plain

MIGRATION = {"timeoutS": 120, "maxDowntimeMs": 500}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Any, Any]]:
    from tests.tooling.guest import guest_skip_reason
    from tests.tooling.libvirtd import libvirt_skip_reason
    from tests.tooling.netns import testbed_skip_reason

    if reason := libvirt_skip_reason() or testbed_skip_reason() or guest_skip_reason():
        pytest.skip(reason)
    from tests.integration.migration.cluster import start_cluster
    from tests.tooling.guest import build_guest

    image = build_guest()
    c = start_cluster(Path(tempfile.mkdtemp(prefix="nc-pulumi-", dir="/var/tmp")))
    try:
        yield c, image
    finally:
        c.close()


def _inputs(image: Any, node: str) -> dict[str, Any]:
    from tests.integration.migration.cluster import guest_spec

    spec = guest_spec(image, "pul-mig", wss_mb=32)
    return {"name": spec["name"], "vcpus": spec["vcpus"], "memoryMib": spec["memory_mib"], "state": "running",
            "boot": spec["boot"], "node": node, "migration": MIGRATION}


def test_node_change_migrates_and_refresh_follows_the_vm(cluster: tuple[Any, Any], provider: ProviderProcess) -> None:
    c, image = cluster
    a, b = c.nodes
    provider.configure(a.url, a.agent.token, peers=[{"endpoint": b.url, "token": b.agent.token}])
    news = provider.checked("mig", _inputs(image, a.node_id))
    id_, state = provider.create("mig", news, timeout=120)
    assert state["node"] == a.node_id and c.where("pul-mig") is a

    moved = provider.checked("mig", _inputs(image, b.node_id), olds=news)
    diff = provider.diff("mig", id_, state, moved)
    assert {p: d.kind for p, d in diff.detailedDiff.items()} == {"node": provider_pb2.PropertyDiff.UPDATE}
    assert not diff.replaces
    state = provider.update("mig", id_, state, moved, timeout=240)
    assert state["node"] == b.node_id and state["status"]["actualState"] == "running"
    assert c.where("pul-mig") is b  # moved, not recreated: one running domain, on node-b

    # an operator migrates it back outside Pulumi; refresh finds it there
    client = b.client()
    mig = client.create_migration(MigrationRequest(vm="pul-mig", destination=a.node_id))
    from tests.integration.migration.cluster import wait_until

    wait_until(lambda: client.get_migration(mig.id).phase in ("completed", "failed", "cancelled"), 180,
               "the out-of-band migration")
    assert client.get_migration(mig.id).phase == "completed"
    refreshed = provider.read("mig", id_, state, moved)
    assert refreshed.id == id_ and plain(refreshed.properties)["node"] == a.node_id
    again = provider.diff("mig", id_, plain(refreshed.properties), moved)
    assert list(again.diffs) == ["node"] and not again.replaces  # the next up migrates it back

    provider.delete("mig", id_, plain(refreshed.properties))
    assert a.client().get_vm("pul-mig") is None and b.client().get_vm("pul-mig") is None
