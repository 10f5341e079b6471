"""The whole life of a VM through the real plugin against a real agent, as `pulumi up` drives it:
Check -> Diff -> Create (preview, then for real) -> Read -> Diff/Update in place -> refresh after an
out-of-band change -> import -> Delete; the DWCP mode singleton; and secrets never leaving in clear.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime.proto import provider_pb2

from tests.pulumi.harness import MODE, FakeEngine, ProviderProcess, is_secret, plain, unwrap

K = provider_pb2.PropertyDiff
USER_DATA = "#cloud-config\npassword: correct-horse-battery-staple\n"


def vm_inputs(**over: Any) -> dict[str, Any]:
    base = {"name": "web-1", "vcpus": 1, "memoryMib": 256, "disks": [{"name": "root", "sizeGib": 1}],
            "networks": [{"network": "default"}], "labels": {"app": "web", "app.io/tier": "front"},
            "cloudInit": {"userData": USER_DATA}}
    return {**base, **over}


def test_vm_lifecycle(agent_factory: Any, provider: ProviderProcess, engine: FakeEngine) -> None:
    agent = agent_factory("node-1")
    client = agent.client()
    provider.configure(agent.url, agent.token)

    # pulumi preview: Check, then Create with preview=True changes nothing
    news = provider.checked("web", vm_inputs())
    id_, predicted = provider.create("web", news, preview=True)
    assert id_ == "" and predicted["memoryMib"] == 256 and client.get_vm("web-1") is None

    # pulumi up: Create waits until the VM runs
    id_, state = provider.create("web", news, timeout=120)
    assert id_ == "web-1"
    assert state["status"]["actualState"] == "running" and state["node"] == "node-1"
    assert is_secret(state["cloudInit"]) and unwrap(state["cloudInit"])["userData"] == USER_DATA
    uuid = state["status"]["uuid"]
    assert client.get_vm("web-1").status.actual_state == "running"

    # a second `up` with the same program: nothing to do
    read = provider.read("web", id_, state, news)
    assert read.id == id_ and plain(read.properties)["memoryMib"] == 256
    assert provider.diff("web", id_, plain(read.properties), news).changes == provider_pb2.DiffResponse.DIFF_NONE

    # memory change: an in-place update (same libvirt domain), never a replacement
    news2 = provider.checked("web", vm_inputs(memoryMib=512), olds=news)
    diff = provider.diff("web", id_, state, news2)
    assert {p: d.kind for p, d in diff.detailedDiff.items()} == {"memoryMib": K.UPDATE} and not diff.replaces
    preview = provider.update("web", id_, state, news2, preview=True)
    assert preview["memoryMib"] == 512 and client.get_vm("web-1").memory_mib == 256
    state = provider.update("web", id_, state, news2, timeout=120)
    assert state["memoryMib"] == 512 and state["status"]["uuid"] == uuid
    assert client.get_vm("web-1").memory_mib == 512

    # someone changes the VM outside Pulumi: refresh shows it, the next diff puts it back
    spec = client.get_vm("web-1").model_dump(exclude={"status"})
    client.put_vm({**spec, "memory_mib": 768})
    refreshed = provider.read("web", id_, state, news2)
    assert refreshed.id == id_ and plain(refreshed.properties)["memoryMib"] == 768
    drift = provider.diff("web", id_, plain(refreshed.properties), news2)
    assert {p: d.kind for p, d in drift.detailedDiff.items()} == {"memoryMib": K.UPDATE}

    # pulumi import: Read by name with no state; the inputs it returns reproduce the VM exactly
    imported = provider.read("adopted", "web-1")
    inputs = plain(imported.inputs)
    assert inputs["name"] == "web-1" and inputs["memoryMib"] == 768 and "vcpus" not in inputs  # default left out
    assert is_secret(inputs["cloudInit"])
    checked = provider.checked("adopted", inputs)
    assert provider.diff("adopted", "web-1", plain(imported.properties), checked).changes == \
        provider_pb2.DiffResponse.DIFF_NONE

    # pulumi destroy
    provider.delete("web", id_, state)
    assert client.get_vm("web-1") is None
    gone = provider.read("web", id_, state, news2)
    assert gone.id == ""  # refresh drops it from the state

    # the token and the cloud-init secret never appear in clear in anything the provider said
    said = engine.text() + "".join(provider.stderr)
    assert "creating VM 'web-1' on node-1" in engine.text()
    assert agent.token not in said and "correct-horse-battery-staple" not in said


def test_dwcp_mode_lifecycle(agent_factory: Any, provider: ProviderProcess) -> None:
    agent = agent_factory("node-1")
    client = agent.client()
    provider.configure(agent.url, agent.token)
    news = provider.checked("dwcp", {"mode": "internet", "v3RolloutPercentage": 50}, type_=MODE)
    id_, state = provider.create("dwcp", news, type_=MODE)
    assert id_ == "node-1" and state["mode"] == "internet" and state["status"]["forced"] is True
    assert client.get_mode().mode == "internet" and client.get_mode().v3_rollout_percentage == 50
    news2 = provider.checked("dwcp", {"mode": "hybrid", "v3RolloutPercentage": 50}, type_=MODE, olds=news)
    diff = provider.diff("dwcp", id_, state, news2, type_=MODE)
    assert list(diff.diffs) == ["mode"] and not diff.replaces
    state = provider.update("dwcp", id_, state, news2, type_=MODE)
    assert client.get_mode().mode == "hybrid"
    imported = plain(provider.read("dwcp2", "node-1", type_=MODE).inputs)
    assert imported["mode"] == "hybrid" and imported["node"] == "node-1" and imported["v3RolloutPercentage"] == 50
    provider.delete("dwcp", id_, state, type_=MODE)
    assert client.get_mode().forced is False  # back to automatic detection


def test_diff_replaces_exactly_what_the_agent_cannot_change_in_place(agent_factory: Any,
                                                                     provider: ProviderProcess) -> None:
    """Preview's verdict (update or replace), from properties alone, against the agent's own
    dry run of the same change: a replacement exactly where the agent refuses without recreate."""
    from novacron_sdk.client import ApiError

    agent = agent_factory("node-1")
    client = agent.client()
    provider.configure(agent.url, agent.token)
    base = {"name": "cmp-1", "vcpus": 1, "memoryMib": 128,
            "disks": [{"name": "root", "sizeGib": 2}, {"name": "data", "sizeGib": 2}]}
    _, state = provider.create("cmp", provider.checked("cmp", base), timeout=60)
    variants = {
        "memory": {"memoryMib": 512}, "vcpus": {"vcpus": 2}, "labels": {"labels": {"a": "b"}},
        "grow": {"disks": [{"name": "root", "sizeGib": 4}, {"name": "data", "sizeGib": 2}]},
        "add": {"disks": [*base["disks"], {"name": "logs", "sizeGib": 1}]},
        "shrink": {"disks": [{"name": "root", "sizeGib": 1}, {"name": "data", "sizeGib": 2}]},
        "bus": {"disks": [{"name": "root", "sizeGib": 2, "bus": "sata"}, {"name": "data", "sizeGib": 2}]},
        "remove": {"disks": [{"name": "root", "sizeGib": 2}]},
        "stop": {"state": "stopped"},
    }
    verdicts = {}
    for label, change in variants.items():
        news = provider.checked("cmp", {**base, **change})
        replace = bool(provider.diff("cmp", "cmp-1", state, news).replaces)
        spec = {"name": "cmp-1", "vcpus": 1, "memory_mib": 128,
                "disks": [{"name": d["name"], "size_gib": d["sizeGib"], **({"bus": d["bus"]} if "bus" in d else {})}
                          for d in news["disks"]],
                **{k: v for k, v in {"memory_mib": news.get("memoryMib"), "vcpus": news.get("vcpus"),
                                     "labels": news.get("labels"), "state": news.get("state")}.items() if v}}
        try:
            client.put_vm(spec, dry_run=True)
            agent_rebuilds = False
        except ApiError as exc:
            assert exc.status == 409, exc
            agent_rebuilds = True
        verdicts[label] = (replace, agent_rebuilds)
    assert all(mine == theirs for mine, theirs in verdicts.values()), verdicts
    replaced = {k for k, (mine, _) in verdicts.items() if mine}
    assert {"shrink", "bus", "remove"} <= replaced  # whatever the hypervisor: rebuilds
    assert not replaced & {"memory", "vcpus", "labels", "add", "stop"}  # never rebuilds
    # growing a disk is live on KVM; libvirt's test driver (these agents) cannot resize volumes
    test_driver = client.node().hypervisor_uri.startswith("test:")
    assert verdicts["grow"] == (test_driver, test_driver)
