"""The plugin as the engine starts it: handshake, schema, CheckConfig/Configure, Check, Diff.

No agent is needed here: Check and Diff work purely from the properties (Diff from the state's
outputs and the new inputs), and preview predicts outputs without changing anything.
"""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2
from pulumi_resource_novacron import SCHEMA_PATH, __version__

from tests.pulumi.harness import (
    MODE,
    UNKNOWN,
    VM,
    ProviderProcess,
    failure,
    is_secret,
    plain,
    secret,
    struct,
    urn,
)

K = provider_pb2.PropertyDiff

# A VM's outputs as a Create would have returned them (the state Diff compares against).
STATE = {
    "name": "web-1", "vcpus": 2, "memoryMib": 1024, "state": "running", "autostart": False,
    "disks": [{"name": "root", "sizeGib": 10, "pool": "default", "bus": "virtio"},
              {"name": "data", "sizeGib": 20, "pool": "default", "bus": "virtio"}],
    "networks": [{"network": "default", "mac": "52:54:00:12:34:56", "model": "virtio"}],
    "labels": {"app": "web", "app.io/tier": "front"},
    "node": "node-1",
    "status": {"node": "node-1", "actualState": "running", "drift": [], "uuid": "u-1"},
}
INPUTS = {
    "name": "web-1", "vcpus": 2, "memoryMib": 1024,
    "disks": [{"name": "root", "sizeGib": 10}, {"name": "data", "sizeGib": 20}],
    "networks": [{"network": "default"}],
    "labels": {"app": "web", "app.io/tier": "front"},
}


def kinds(resp: provider_pb2.DiffResponse) -> dict[str, int]:
    return {path: d.kind for path, d in resp.detailedDiff.items()}


def test_started_as_the_engine_starts_plugins(provider: ProviderProcess) -> None:
    assert provider.stdout_first_line.strip().isdigit()
    assert provider.stub.GetPluginInfo(empty_pb2.Empty()).version == __version__
    hs = provider.stub.Handshake(provider_pb2.ProviderHandshakeRequest(engine_address="127.0.0.1:1"))
    assert hs.accept_secrets and not hs.accept_outputs
    schema = json.loads(provider.stub.GetSchema(provider_pb2.GetSchemaRequest()).schema)
    assert schema == {**json.loads(SCHEMA_PATH.read_text()), "version": __version__}
    provider.stub.Cancel(empty_pb2.Empty())
    provider.stop()
    assert provider.proc.stdout is not None and provider.proc.stdout.read() == ""  # only the port, ever


def test_check_config_names_the_problem_and_keeps_the_token_secret(pure_provider: ProviderProcess) -> None:
    def check(news: dict) -> provider_pb2.CheckResponse:
        return pure_provider.stub.CheckConfig(provider_pb2.CheckRequest(
            urn=urn("pulumi:providers:novacron", "p"), news=struct(news)))

    bad = check({"endpoint": "node-1:8080", "endpiont": "x", "peers": json.dumps([{"endpoint": "ftp://x"}])})
    reasons = {f.property: f.reason for f in bad.failures}
    assert "http:// or https://" in reasons["endpoint"]
    assert "unknown configuration key" in reasons["endpiont"]
    assert "token" in reasons and "pulumi config set --secret" in reasons["token"]
    assert "peers[0].endpoint" in reasons
    good = check({"endpoint": "https://node-1:8080", "token": "plain-token-value",
                  "peers": json.dumps([{"endpoint": "https://node-2:8080", "token": "peer-token-value"}])})
    assert not good.failures
    inputs = plain(good.inputs)
    assert is_secret(inputs["token"]) and inputs["token"]["value"] == "plain-token-value"
    assert is_secret(inputs["peers"][0]["token"])
    assert inputs["endpoint"] == "https://node-1:8080"
    changed = pure_provider.stub.DiffConfig(provider_pb2.DiffRequest(
        urn=urn("pulumi:providers:novacron", "p"), olds=good.inputs,
        news=struct({**inputs, "endpoint": "https://node-9:8080"})))
    assert list(changed.diffs) == ["endpoint"] and not changed.replaces  # never replaces the VMs


def test_check_errors_name_the_property_as_written(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.check("web", {
        "name": "web 1", "memoryMib": 8, "vcpus": "two",
        "disks": [{"name": "root"}, {"name": "data", "sizeGib": 1, "bus": "floppy"}],
        "networks": [{"network": "default", "bridge": "br0"}, {"network": "default", "mac": "zz"}],
        "cloudInit": {"userData": "x" * 70000}, "migration": {"maxDowntimeMs": 0}, "node": "-bad",
        "memroyMib": 1,
    })
    reasons = {f.property: f.reason for f in resp.failures}
    assert set(reasons) == {"name", "memoryMib", "vcpus", "disks[0]", "disks[1].bus", "networks[0]",
                            "networks[1].mac", "cloudInit.userData", "migration.maxDowntimeMs", "node",
                            "memroyMib"}
    assert "greater than or equal to 16" in reasons["memoryMib"] and "got 8" in reasons["memoryMib"]
    assert reasons["disks[0]"] == "one of sizeGib or baseImage is required"
    assert "exactly one of network or bridge" in reasons["networks[0]"]
    assert "'virtio'" in reasons["disks[1].bus"]
    assert reasons["memroyMib"] == "unknown property"
    assert "x" * 100 not in reasons["cloudInit.userData"]  # long (possibly secret) values are not echoed


def test_check_keeps_the_users_representation(pure_provider: ProviderProcess) -> None:
    news = {"name": "web-1", "memoryMib": 2048,
            "networks": [{"network": "default", "mac": "52:54:00:AB:CD:EF"}],
            "cloudInit": {"userData": "#cloud-config"}, "labels": {"app.io/tier": "web"}}
    inputs = pure_provider.checked("web", news)
    assert inputs["networks"] == news["networks"]  # not lower-cased, no defaults added
    assert inputs["labels"] == news["labels"]  # map keys are data, never re-cased
    assert set(inputs) == set(news)
    assert is_secret(inputs["cloudInit"]) and inputs["cloudInit"]["value"] == news["cloudInit"]


def test_check_autonames_and_tolerates_unknowns(pure_provider: ProviderProcess) -> None:
    named = pure_provider.checked("web", {"memoryMib": UNKNOWN, "disks": [{"name": "root", "sizeGib": UNKNOWN}]})
    assert named["name"].startswith("web-") and named["memoryMib"] == UNKNOWN
    again = pure_provider.checked("web", {"memoryMib": 512}, olds=named)
    assert again["name"] == named["name"]  # stable across updates
    still_bad = pure_provider.check("web", {"memoryMib": UNKNOWN, "vcpus": 0})
    assert [f.property for f in still_bad.failures] == ["vcpus"]


def test_diff_memory_and_vcpus_are_updates_never_replacements(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "memoryMib": 4096, "vcpus": 4})
    assert resp.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert kinds(resp) == {"memoryMib": K.UPDATE, "vcpus": K.UPDATE}
    assert not resp.replaces and not resp.deleteBeforeReplace


def test_diff_node_change_is_a_migration_not_a_replacement(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "node": "node-2"})
    assert kinds(resp) == {"node": K.UPDATE} and not resp.replaces
    assert pure_provider.diff("web", "web-1", STATE, {**INPUTS, "node": "node-1"}).changes == \
        provider_pb2.DiffResponse.DIFF_NONE


def test_diff_without_changes_and_with_libvirt_chosen_values(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, INPUTS)  # MAC and disk defaults unset in inputs
    assert resp.changes == provider_pb2.DiffResponse.DIFF_NONE and not resp.detailedDiff


@pytest.mark.parametrize(("disks", "expected", "replace"), [
    ([{"name": "root", "sizeGib": 10}, {"name": "data", "sizeGib": 40}], {"disks[1].sizeGib": K.UPDATE}, False),
    ([{"name": "root", "sizeGib": 10}, {"name": "data", "sizeGib": 5}],
     {"disks[1].sizeGib": K.UPDATE_REPLACE}, True),
    ([{"name": "root", "sizeGib": 10, "bus": "sata"}, {"name": "data", "sizeGib": 20}],
     {"disks[0].bus": K.UPDATE_REPLACE}, True),
    ([{"name": "root", "sizeGib": 10}], {"disks[1]": K.DELETE_REPLACE}, True),
    ([{"name": "root", "sizeGib": 10}, {"name": "data", "sizeGib": 20}, {"name": "logs", "sizeGib": 1}],
     {"disks[2]": K.ADD}, False),
])
def test_diff_disks_replace_exactly_where_the_agent_rebuilds(
        pure_provider: ProviderProcess, disks: list, expected: dict, replace: bool) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "disks": disks})
    assert kinds(resp) == expected
    assert list(resp.replaces) == (["disks"] if replace else [])
    assert resp.deleteBeforeReplace == replace  # same name: the old VM must go first


def test_diff_rename_replaces_create_before_delete(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "name": "web-2"})
    assert kinds(resp) == {"name": K.UPDATE_REPLACE} and list(resp.replaces) == ["name"]
    assert not resp.deleteBeforeReplace


def test_diff_labels_networks_unknowns_drift_and_ignore_changes(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "labels": {"app": "api", "app.io/tier": "front",
                                                                      "new": "1"}})
    assert kinds(resp) == {"labels.app": K.UPDATE, "labels.new": K.ADD}
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "labels": {"app": "web"}})
    assert kinds(resp) == {'labels["app.io/tier"]': K.DELETE}
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "networks": [{"network": "default"},
                                                                        {"bridge": "br0"}]})
    assert kinds(resp) == {"networks[1]": K.ADD}
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "memoryMib": UNKNOWN})
    assert kinds(resp) == {"memoryMib": K.UPDATE} and not resp.replaces
    drifted = {**STATE, "status": {**STATE["status"], "drift": ["memory_mib"]}}
    assert kinds(pure_provider.diff("web", "web-1", drifted, INPUTS)) == {"memoryMib": K.UPDATE}
    resp = pure_provider.diff("web", "web-1", STATE, {**INPUTS, "memoryMib": 4096}, ignore=["memoryMib"])
    assert resp.changes == provider_pb2.DiffResponse.DIFF_NONE


def test_preview_create_predicts_without_an_agent(provider: ProviderProcess) -> None:
    provider.configure("http://127.0.0.1:9", "some-token-value")  # nothing listens there
    inputs = provider.checked("web", {"name": "web-1", "memoryMib": UNKNOWN,
                                      "cloudInit": secret({"userData": "#cloud-config"})})
    id_, outs = provider.create("web", inputs, preview=True)
    assert id_ == ""
    assert outs["memoryMib"] == UNKNOWN and outs["status"] == UNKNOWN and outs["vcpus"] == 1
    assert is_secret(outs["cloudInit"])


def test_dwcp_mode_check_and_diff(pure_provider: ProviderProcess) -> None:
    resp = pure_provider.check("dwcp", {"mode": "lan", "v3RolloutPercentage": 101}, type_=MODE)
    reasons = {f.property: f.reason for f in resp.failures}
    assert set(reasons) == {"mode", "v3RolloutPercentage"}
    state = {"mode": "auto", "enableV3Transport": True, "v3RolloutPercentage": 100, "node": "node-1"}
    resp = pure_provider.diff("dwcp", "node-1", state, {"mode": "internet", "v3RolloutPercentage": 100}, type_=MODE)
    assert kinds(resp) == {"mode": K.UPDATE} and not resp.replaces
    resp = pure_provider.diff("dwcp", "node-1", state, {"node": "node-2"}, type_=MODE)
    assert list(resp.replaces) == ["node"]


def test_unknown_resource_type_is_refused(pure_provider: ProviderProcess) -> None:
    with pytest.raises(grpc.RpcError) as err:
        pure_provider.check("x", {}, type_="novacron:index:Nope")
    assert failure(err.value).code == grpc.StatusCode.INVALID_ARGUMENT
    assert VM in failure(err.value).message


def test_configure_from_stack_variables_and_refusal(pure_provider: ProviderProcess) -> None:
    ok = pure_provider.stub.Configure(provider_pb2.ConfigureRequest(variables={
        "novacron:config:endpoint": "http://127.0.0.1:9", "novacron:config:token": "variable-token",
        "novacron:config:peers": json.dumps([{"endpoint": "http://127.0.0.1:10"}])}))
    assert ok.supportsPreview and ok.acceptSecrets
    with pytest.raises(grpc.RpcError) as err:
        pure_provider.stub.Configure(provider_pb2.ConfigureRequest(variables={"novacron:config:token": "t0ken"}))
    f = failure(err.value)
    assert f.code == grpc.StatusCode.INVALID_ARGUMENT and "endpoint" in f.property_errors
    assert "t0ken" not in f.message
