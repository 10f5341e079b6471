"""The Provider service called directly with protobuf requests: diagnostics, paths, unknowns, state."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from novacron_tf.codec import decode_msgpack, encode_msgpack
from novacron_tf.cty import UNKNOWN
from novacron_tf.planning import shape
from novacron_tf.protos import stubs
from novacron_tf.provider import Provider

pb = stubs().pb


@pytest.fixture
def provider() -> Provider:
    return Provider(env={})


def dv(provider: Provider, value: Any, schema: Any) -> Any:
    return pb.DynamicValue(msgpack=encode_msgpack(value, schema.type))


def vm_config(provider: Provider, **kw: Any) -> Any:
    schema = provider.schemas.resources["novacron_vm"]
    return dv(provider, shape(schema.block, {"name": "web-1", **kw}), schema)


def steps(diag: Any) -> list[Any]:
    out = []
    for step in diag.attribute.steps:
        which = step.WhichOneof("selector")
        out.append(getattr(step, which))
    return out


def test_validation_diagnostics_carry_attribute_paths(provider: Provider) -> None:
    req = pb.ValidateResourceConfig.Request(type_name="novacron_vm", config=vm_config(
        provider, memory_mib=8, labels={"bad key": "v"},
        networks=[{"network": "default"}, {"network": "x", "mac": "nope"}]))
    diags = provider.ValidateResourceConfig(req, None).diagnostics
    by_path = {tuple(steps(d)): d for d in diags}
    assert set(by_path) == {("memory_mib",), ("labels",), ("networks", 1, "mac")}
    assert all(d.severity == pb.Diagnostic.ERROR for d in diags)
    assert "greater than or equal to 16" in by_path[("memory_mib",)].detail
    mac = by_path[("networks", 1, "mac")].attribute.steps
    assert [s.WhichOneof("selector") for s in mac] == ["attribute_name", "element_key_int", "attribute_name"]


def test_unknown_values_are_not_judged_before_they_are_known(provider: Provider) -> None:
    req = pb.ValidateResourceConfig.Request(type_name="novacron_vm", config=vm_config(
        provider, memory_mib=UNKNOWN, disks=[{"name": "root", "size_gib": UNKNOWN}]))
    assert list(provider.ValidateResourceConfig(req, None).diagnostics) == []


def test_plan_before_configure_answers_a_diagnostic_not_a_crash(provider: Provider) -> None:
    schema = provider.schemas.resources["novacron_vm"]
    cfg = vm_config(provider, memory_mib=256)
    req = pb.PlanResourceChange.Request(type_name="novacron_vm", config=cfg, proposed_new_state=cfg,
                                        prior_state=dv(provider, None, schema))
    resp = provider.PlanResourceChange(req, None)
    assert [d.summary for d in resp.diagnostics] == ["Provider not configured"]


def test_configure_requires_an_endpoint_and_names_it(provider: Provider) -> None:
    schema = provider.schemas.provider
    cfg = dv(provider, shape(schema.block, {"token": "t"}), schema)
    resp = provider.ConfigureProvider(pb.ConfigureProvider.Request(config=cfg), None)
    (diag,) = resp.diagnostics
    assert diag.summary == "Missing agent endpoint" and steps(diag) == ["endpoint"]
    with_env = Provider(env={"NOVACRON_ENDPOINT": "http://127.0.0.1:9"})
    assert list(with_env.ConfigureProvider(pb.ConfigureProvider.Request(config=cfg), None).diagnostics) == []
    bad_peer = dv(provider, shape(schema.block, {"endpoint": "http://a:1", "peer": [
        {"node_id": "n2", "endpoint": "ftp://b"}]}), schema)
    (diag,) = provider.ValidateProviderConfig(pb.ValidateProviderConfig.Request(config=bad_peer), None).diagnostics
    assert steps(diag) == ["peer", 0, "endpoint"]


def test_apply_against_an_unreachable_agent_fails_cleanly(provider: Provider) -> None:
    held = socket.socket()  # bound, never listening: refused, and nobody else can take the port
    held.bind(("127.0.0.1", 0))
    port = held.getsockname()[1]
    pschema = provider.schemas.provider
    provider.ConfigureProvider(pb.ConfigureProvider.Request(config=dv(provider, shape(
        pschema.block, {"endpoint": f"http://127.0.0.1:{port}"}), pschema)), None)
    schema = provider.schemas.resources["novacron_vm"]
    planned = shape(schema.block, {"name": "web-1", "node": "n1", "vcpus": 1, "memory_mib": 256})
    req = pb.ApplyResourceChange.Request(type_name="novacron_vm", prior_state=dv(provider, None, schema),
                                         planned_state=dv(provider, planned, schema),
                                         config=dv(provider, planned, schema))
    resp = provider.ApplyResourceChange(req, None)
    (diag,) = resp.diagnostics
    assert diag.summary == "NovaCron agent unreachable" and "Connection refused" in diag.detail
    held.close()
    assert decode_msgpack(resp.new_state.msgpack, schema.type) is None  # nothing was created


def test_state_written_by_an_older_schema_upgrades(provider: Provider) -> None:
    schema = provider.schemas.resources["novacron_vm"]
    old = {"name": "web-1", "memory_mib": 512, "retired_attribute": True, "disks": [{"name": "root"}]}
    req = pb.UpgradeResourceState.Request(type_name="novacron_vm", version=0,
                                          raw_state=pb.RawState(json=json.dumps(old).encode()))
    resp = provider.UpgradeResourceState(req, None)
    assert not resp.diagnostics
    state = decode_msgpack(resp.upgraded_state.msgpack, schema.type)
    assert state["memory_mib"] == 512 and state["node"] is None and "retired_attribute" not in state
    assert state["disks"][0] == {"name": "root", "size_gib": None, "base_image": None, "pool": None, "bus": None}


def test_unknown_resource_type_is_a_diagnostic(provider: Provider) -> None:
    resp = provider.ValidateResourceConfig(pb.ValidateResourceConfig.Request(type_name="novacron_nope"), None)
    assert [d.summary for d in resp.diagnostics] == ["Unknown resource type"]
