"""Two agents behind one provider (`peers`): placement by `node`, finding a VM that moved out of
band (refresh shows the new node, not a deleted VM), and refusing to call a VM deleted while an
agent is unreachable. Live migration itself is in test_migration.py (it needs real guests)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from tests.pulumi.faultproxy import FaultProxy
from tests.pulumi.harness import FakeEngine, ProviderProcess, failure, plain

SPEC = {"name": "app-1", "memoryMib": 128, "disks": [{"name": "root", "sizeGib": 1}]}


def _two_nodes(agent_factory: Any, provider: ProviderProcess) -> tuple[Any, Any]:
    one, two = agent_factory("node-1"), agent_factory("node-2")
    provider.configure(one.url, one.token, peers=[{"endpoint": two.url, "token": two.token}])
    return one, two


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


def test_node_change_against_an_agent_without_migrations_fails_cleanly(agent_factory: Any,
                                                                       provider: ProviderProcess) -> None:
    one, two = agent_factory("node-1"), agent_factory("node-2")
    proxy = FaultProxy(one.url)  # node-1 as an agent that predates the migration API
    proxy.refuse("POST", "/api/v1/migrations", 404)
    try:
        provider.configure(proxy.url, one.token, peers=[{"endpoint": two.url, "token": two.token}])
        news = provider.checked("app", {**SPEC, "node": "node-1"})
        id_, state = provider.create("app", news, timeout=60)
        moved = provider.checked("app", {**SPEC, "node": "node-2", "memoryMib": 160}, olds=news)
        provider.update("app", id_, state, moved, preview=True)  # preview warns, does not fail
        with pytest.raises(grpc.RpcError) as err:
            provider.update("app", id_, state, moved, timeout=60)
        f = failure(err.value)
        assert f.code == grpc.StatusCode.UNIMPLEMENTED and "node" in f.property_errors and f.init_failed is None
        assert one.client().get_vm("app-1").memory_mib == 128  # nothing half-done
        assert two.client().get_vm("app-1") is None
    finally:
        proxy.stop()
