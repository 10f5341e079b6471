"""Two agents behind one provider (`peers`): placement by `node`, finding a VM that moved out of
band (refresh shows the new node, not a deleted VM), refusing to call a VM deleted while an agent
is unreachable, and a change of `node` as a live migration once the agents serve that API."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from novacron.client import ApiError
from novacron.models.migration import MigrationRequest
from tests.pulumi.harness import FakeEngine, ProviderProcess, failure, plain

SPEC = {"name": "app-1", "memoryMib": 128, "disks": [{"name": "root", "sizeGib": 1}]}


def _two_nodes(agent_factory: Any, provider: ProviderProcess, need_migrations: bool | None = None
               ) -> tuple[Any, Any]:
    one = agent_factory("node-1")
    if need_migrations is True and not _migration_api(one):
        pytest.skip("the agent has no migration API yet (POST /api/v1/migrations answers 404)")
    if need_migrations is False and _migration_api(one):
        pytest.skip("the agents serve migrations: test_node_change_is_a_live_migration covers node changes")
    two = agent_factory("node-2")
    provider.configure(one.url, one.token, peers=[{"endpoint": two.url, "token": two.token}])
    return one, two


def _migration_api(agent: Any) -> bool:
    try:
        agent.client().create_migration(MigrationRequest(vm="probe-vm", destination="node-2"), dry_run=True)
    except ApiError as exc:
        return not (exc.status in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed"))
    return True


def test_placement_and_out_of_band_move(agent_factory: Any, provider: ProviderProcess,
                                        engine: FakeEngine) -> None:
    one, two = _two_nodes(agent_factory, provider)
    with pytest.raises(grpc.RpcError) as err:  # a node no configured agent serves is named
        provider.create("app", provider.checked("app", {**SPEC, "node": "node-9"}), timeout=30)
    f = failure(err.value)
    assert f.code == grpc.StatusCode.INVALID_ARGUMENT and "node" in f.property_errors and "peers" in f.message

    news = provider.checked("app", {**SPEC, "node": "node-2"})
    id_, state = provider.create("app", news, timeout=60)
    assert state["node"] == "node-2" and two.client().get_vm("app-1") is not None
    assert one.client().get_vm("app-1") is None

    # moved behind Pulumi's back (what an out-of-band migration leaves): node-2 -> node-1
    spec = two.client().get_vm("app-1").model_dump(exclude={"status"})
    two.client().delete_vm("app-1", force_stop=True)
    one.client().put_vm(spec)
    refreshed = provider.read("app", id_, state, news)
    assert refreshed.id == "app-1" and plain(refreshed.properties)["node"] == "node-1"
    assert any("moved outside Pulumi" in m for _, m, _ in engine.messages)
    # the program still says node-2: the next up migrates it back (an update, not a replacement)
    diff = provider.diff("app", id_, plain(refreshed.properties), news)
    assert {p: d.kind for p, d in diff.detailedDiff.items()} == {"node": provider_pb2.PropertyDiff.UPDATE}
    assert not diff.replaces
    # a program that does not pin the node is content wherever the VM runs
    loose = provider.checked("app", SPEC)
    assert provider.diff("app", id_, plain(refreshed.properties), loose).changes == \
        provider_pb2.DiffResponse.DIFF_NONE

    # with node-1 (where the VM now is) down, a refresh must not report it deleted
    one.stop()
    with pytest.raises(grpc.RpcError) as err:
        provider.read("app", id_, plain(refreshed.properties), news)
    assert failure(err.value).code == grpc.StatusCode.UNAVAILABLE


def test_node_change_is_a_live_migration(agent_factory: Any, provider: ProviderProcess) -> None:
    one, two = _two_nodes(agent_factory, provider, need_migrations=True)
    news = provider.checked("app", {**SPEC, "node": "node-1"})
    id_, state = provider.create("app", news, timeout=60)
    moved = provider.checked("app", {**SPEC, "node": "node-2"}, olds=news)
    state = provider.update("app", id_, state, moved, timeout=600)
    assert state["node"] == "node-2" and two.client().get_vm("app-1") is not None
    assert one.client().get_vm("app-1") is None


def test_node_change_without_migration_api_fails_cleanly(agent_factory: Any, provider: ProviderProcess) -> None:
    one, _ = _two_nodes(agent_factory, provider, need_migrations=False)
    news = provider.checked("app", {**SPEC, "node": "node-1"})
    id_, state = provider.create("app", news, timeout=60)
    moved = provider.checked("app", {**SPEC, "node": "node-2", "memoryMib": 160}, olds=news)
    with pytest.raises(grpc.RpcError) as err:
        provider.update("app", id_, state, moved, timeout=60)
    f = failure(err.value)
    assert f.code == grpc.StatusCode.UNIMPLEMENTED and "node" in f.property_errors and f.init_failed is None
    assert one.client().get_vm("app-1").memory_mib == 128  # nothing half-done
