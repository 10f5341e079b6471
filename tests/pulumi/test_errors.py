"""Error paths through the real plugin: bad input the agent rejects, an agent that is down, an
expired token, a refused change, and a create whose answer is lost (partial state, then resume)."""

from __future__ import annotations

import socket
import time
from typing import Any

import grpc
import pytest

from tests.pulumi.faultproxy import FaultProxy
from tests.pulumi.harness import ProviderProcess, failure, plain

SPEC = {"name": "db-1", "memoryMib": 128, "disks": [{"name": "root", "sizeGib": 1}]}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_agent_side_validation_names_the_property(agent_factory: Any, provider: ProviderProcess) -> None:
    agent = agent_factory("node-1")
    provider.configure(agent.url, agent.token)
    news = provider.checked("db", {**SPEC, "networks": [{"network": "nope"}]})
    with pytest.raises(grpc.RpcError) as err:
        provider.create("db", news, timeout=60)
    f = failure(err.value)
    assert f.code == grpc.StatusCode.INVALID_ARGUMENT and f.init_failed is None
    assert "networks[0].network" in f.property_errors and "nope" in f.property_errors["networks[0].network"]
    assert agent.client().get_vm("db-1") is None
    with pytest.raises(grpc.RpcError) as err:  # the same answer already at preview, from the dry run
        provider.create("db", news, preview=True)
    assert "networks[0].network" in failure(err.value).property_errors


def test_agent_down(provider: ProviderProcess) -> None:
    provider.configure(f"http://127.0.0.1:{_closed_port()}", "token-for-a-dead-agent")
    news = provider.checked("db", SPEC)
    for call in (lambda: provider.create("db", news, timeout=10), lambda: provider.read("db", "db-1", news, news)):
        with pytest.raises(grpc.RpcError) as err:
            call()
        f = failure(err.value)
        assert f.code == grpc.StatusCode.UNAVAILABLE and "unreachable" in f.message
        assert "token-for-a-dead-agent" not in f.message
    _, predicted = provider.create("db", news, preview=True)  # preview still works, with a warning
    assert predicted["memoryMib"] == 128


def test_expired_token(agent_factory: Any, provider: ProviderProcess) -> None:
    from novacron.auth.tokens import mint_token
    from novacron.config.loader import load_config
    from novacron.secrets import load_signing_key

    agent = agent_factory("node-1")
    config = load_config(agent.config_path)
    expired = mint_token(load_signing_key(config), subject="pulumi", ttl_s=60, issuer=config.auth.issuer,
                         now=time.time() - 3600)
    provider.configure(agent.url, expired)
    news = provider.checked("db", SPEC)
    with pytest.raises(grpc.RpcError) as err:
        provider.create("db", news, timeout=30)
    f = failure(err.value)
    assert f.code == grpc.StatusCode.UNAUTHENTICATED
    assert "novacron token create" in f.message and expired not in f.message
    assert agent.client().get_vm("db-1") is None


def test_refused_update_keeps_the_state(agent_factory: Any, provider: ProviderProcess) -> None:
    agent = agent_factory("node-1")
    provider.configure(agent.url, agent.token)
    news = provider.checked("db", SPEC)
    id_, state = provider.create("db", news, timeout=60)
    rebuild = provider.checked("db", {**SPEC, "disks": [{"name": "root", "sizeGib": 1, "bus": "sata"}]})
    with pytest.raises(grpc.RpcError) as err:  # Diff would have said replace; an Update is refused
        provider.update("db", id_, state, rebuild, timeout=60)
    f = failure(err.value)
    assert f.code == grpc.StatusCode.FAILED_PRECONDITION and f.init_failed is None
    assert "disks[0].bus" in f.property_errors
    assert agent.client().get_vm("db-1").disks[0].bus == "virtio"


def test_lost_answer_returns_partial_state_and_the_next_up_resumes(agent_factory: Any,
                                                                  provider: ProviderProcess) -> None:
    agent = agent_factory("node-1")
    proxy = FaultProxy(agent.url)
    try:
        provider.configure(proxy.url, agent.token)
        news = provider.checked("db", SPEC)
        proxy.drop("PUT", "/api/v1/vms/db-1")
        with pytest.raises(grpc.RpcError) as err:
            provider.create("db", news, timeout=60)
        f = failure(err.value)
        assert proxy.dropped == ["PUT /api/v1/vms/db-1"]
        assert f.init_failed is not None, f.message  # the VM exists: the engine must record it
        partial = plain(f.init_failed.properties)
        assert f.init_failed.id == "db-1" and partial["node"] == "node-1"
        assert plain(f.init_failed.inputs)["memoryMib"] == 128 and f.init_failed.reasons

        # the next `up`: the engine updates the recorded VM (resource with init errors)
        news2 = provider.checked("db", {**SPEC, "memoryMib": 160}, olds=news)
        state = provider.update("db", "db-1", partial, news2, timeout=60)
        assert state["memoryMib"] == 160 and state["status"]["actualState"] == "running"
        assert [vm.name for vm in agent.client().list_vms()] == ["db-1"]  # resumed, not duplicated

        # and a Create for a name that exists is refused instead of adopting someone's VM
        with pytest.raises(grpc.RpcError) as err:
            provider.create("other", news, timeout=60)
        f = failure(err.value)
        assert f.code == grpc.StatusCode.ALREADY_EXISTS and "pulumi import" in f.message
        assert "name" in f.property_errors
    finally:
        proxy.stop()
