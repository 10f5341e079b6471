"""Inventory plugin through ansible-inventory; ansible-doc renders every plugin; specs are current."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.conftest import BIN, REPO, ansible_env, play

MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.integration
def test_inventory_lists_vms_with_groups(agent_factory, run_playbook, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = agent_factory("node-a")
    b = agent_factory("node-b")
    for agent, vm in ((a, {"name": "web-1", "labels": {"role": "web"}}),
                      (b, {"name": "db-1", "labels": {"role": "db"}, "state": "stopped"})):
        made = run_playbook(play([{"name": "make", "novacron.cloud.vm": vm}], agent))
        assert made.rc == 0, made.stdout[-2000:] + made.stderr[-2000:]
    source = tmp_path / "cluster.novacron.yml"
    source.write_text(yaml.safe_dump({
        "plugin": "novacron.cloud.novacron",
        "agents": [{"url": a.url, "token": a.token}, {"url": b.url, "token": b.token}],
        "keyed_groups": [{"key": "novacron_labels.role", "prefix": "role"}],
        "compose": {"big": "novacron_memory_mib >= 512"},
    }))
    out = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
                         capture_output=True, text=True, env=ansible_env(), check=True).stdout
    inv = json.loads(out)
    assert set(inv["_meta"]["hostvars"]) == {"web-1", "db-1"}
    assert inv["node_node_a"]["hosts"] == ["web-1"] and inv["node_node_b"]["hosts"] == ["db-1"]
    assert inv["state_running"]["hosts"] == ["web-1"] and inv["state_stopped"]["hosts"] == ["db-1"]
    assert inv["role_web"]["hosts"] == ["web-1"]
    assert inv["label_role_db"]["hosts"] == ["db-1"]
    web = inv["_meta"]["hostvars"]["web-1"]
    assert web["novacron_node"] == "node-a" and web["novacron_labels"] == {"role": "web"} and web["big"] is True


@pytest.mark.integration
def test_inventory_unreachable_agent_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "down.novacron.yml"
    source.write_text(yaml.safe_dump({"plugin": "novacron.cloud.novacron", "agents": ["http://127.0.0.1:9"]}))
    result = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
                            capture_output=True, text=True, env=ansible_env({"ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
                                             "ANSIBLE_INVENTORY_ENABLED": "novacron.cloud.novacron"}))
    assert result.returncode != 0
    assert "cannot reach agent at http://127.0.0.1:9" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module: str) -> None:
    result = subprocess.run([str(BIN / "ansible-doc"), f"novacron.cloud.{module}"], capture_output=True,
                            text=True, env=ansible_env())
    assert result.returncode == 0, result.stderr
    assert "EXAMPLES" in result.stdout and "OPTIONS" in result.stdout


def test_inventory_doc_renders() -> None:
    result = subprocess.run([str(BIN / "ansible-doc"), "-t", "inventory", "novacron.cloud.novacron"],
                            capture_output=True, text=True, env=ansible_env())
    assert result.returncode == 0, result.stderr
    assert "agents" in result.stdout


def test_generated_specs_are_current() -> None:
    result = subprocess.run([str(BIN / "python"), "-m", "novacron.faces.ansible", "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_vm_module_options_cover_the_model() -> None:
    """Every writable field of VirtualMachineSpec is an option of novacron.cloud.vm, same type."""
    import importlib.util

    from novacron_sdk.models.vm import VirtualMachineSpec

    spec = importlib.util.spec_from_file_location("_specs", REPO / "plugins" / "module_utils" / "_specs.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    options = mod.VM_OPTIONS
    schema = VirtualMachineSpec.model_json_schema()
    assert set(schema["properties"]) - {"state"} == set(options)
    assert options["memory_mib"]["type"] == "int" and options["labels"]["type"] == "dict"
    assert options["disks"]["elements"] == "dict"
    assert set(options["disks"]["options"]) == set(schema["$defs"]["DiskSpec"]["properties"])
    assert options["disks"]["options"]["bus"]["choices"] == schema["$defs"]["DiskSpec"]["properties"]["bus"]["enum"]
