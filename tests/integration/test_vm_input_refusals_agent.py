"""A real agent process (libvirt's test:///default) refuses what libvirt, the seed ISO or the store
cannot take, and base images or kernels outside its image roots, before it makes anything.

After every refusal the same VM is created for real: a leftover domain, volume or record would
make that an update or a 409 (volume or domain already there), and the VM's directory must not
exist in between. Bodies are JSON text with `\\u` escapes, a lone surrogate included.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tooling.agent import AgentProcess, start_agent

pytestmark = pytest.mark.integration
VM = "refused1"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    a = start_agent(tmp_path_factory.mktemp("refusals") / "node-r", "node-r")
    images = a.data_dir / "images"
    images.mkdir()
    for name in ("vmlinuz", "initrd.img", "base.raw"):
        (images / name).write_bytes(b"\0" * 65536)
    yield a
    a.stop()


def valid(agent: AgentProcess) -> dict[str, Any]:
    images = agent.data_dir / "images"
    return {
        "name": VM,
        "disks": [{"name": "root", "size_gib": 1}, {"name": "os", "base_image": str(images / "base.raw")}],
        "networks": [{"network": "default"}],
        "cloud_init": {"user_data": "#cloud-config\n", "meta_data": f"instance-id: {VM}\n"},
        "boot": {"kernel": str(images / "vmlinuz"), "initrd": str(images / "initrd.img"), "cmdline": "quiet"},
        "labels": {"env": "test"},
    }


def put(agent: AgentProcess, doc: dict[str, Any]) -> httpx.Response:
    body = json.dumps(doc)  # \uXXXX escapes, also for a lone surrogate
    headers = {"Authorization": f"Bearer {agent.token}", "content-type": "application/json"}
    return httpx.put(f"{agent.url}/api/v1/vms/{VM}", content=body.encode(), headers=headers, timeout=30)


def assert_refused_and_nothing_left(
    agent: AgentProcess, doc: dict[str, Any], field: str, reason: str
) -> bytes:
    r = put(agent, doc)
    assert r.status_code == 422, (field, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field and reason in r.json()["detail"], r.text
    assert not (agent.data_dir / "vms" / VM).exists()  # no directory, so no seed ISO
    client = agent.client()
    assert client.get_vm(VM) is None and client.list_vms() == []
    made = put(agent, valid(agent))  # the same VM from nothing: nothing of it may be there
    assert made.status_code == 200 and made.json()["action"] == "create", made.text
    assert client.delete_vm(VM).changed
    return r.content


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value
    return out


CHARACTERS = {
    "\x00": "control characters", "\x01": "control characters", "\x1b": "control characters",
    "\x7f": "control characters", "\x85": "control characters", "\ud800": "lone surrogates",
    "\ufffe": "noncharacters",
}  # fmt: skip
FIELDS = {
    "name": lambda c, a: f"ref{c}used1",
    "disks.0.pool": lambda c, a: f"def{c}ault",
    "disks.1.base_image": lambda c, a: str(a.data_dir / "images" / f"ba{c}se.raw"),
    "networks.0.network": lambda c, a: f"def{c}ault",
    "cloud_init.meta_data": lambda c, a: f"instance-id: {c}x\n",
    "boot.kernel": lambda c, a: str(a.data_dir / "images" / f"vml{c}inuz"),
    "boot.cmdline": lambda c, a: f"console=ttyS0 {c}",
    "labels.env": lambda c, a: f"te{c}st",
}


@pytest.mark.parametrize("field", list(FIELDS))
def test_bad_characters_are_refused_before_anything_is_made(agent: AgentProcess, field: str) -> None:
    for char, reason in CHARACTERS.items():
        doc = with_value(valid(agent), field, FIELDS[field](char, agent))
        assert_refused_and_nothing_left(agent, doc, field, reason)


def test_the_files_an_image_path_may_not_name_all_get_one_answer(agent: AgentProcess, tmp_path: Path) -> None:
    images = agent.data_dir / "images"
    (images / "escape").symlink_to("/etc/shadow")
    assert (agent.data_dir / "jwt.key").is_file()  # the agent's own signing key
    paths = {
        "signing key": str(agent.data_dir / "jwt.key"),
        "shadow": "/etc/shadow",
        "missing": str(tmp_path / "no-such-image.qcow2"),
        "traversal": "../../etc/shadow",
        "absolute traversal": f"{images}/../jwt.key",
        "symlink out of the root": str(images / "escape"),
    }
    for field in ("disks.1.base_image", "boot.kernel", "boot.initrd"):
        answers = {
            what: assert_refused_and_nothing_left(agent, with_value(valid(agent), field, path), field,
                                                  "inside hypervisor.image_dirs")
            for what, path in paths.items()
        }  # fmt: skip
        assert len(set(answers.values())) == 1, answers


def test_a_missing_file_inside_the_roots_is_named(agent: AgentProcess) -> None:
    missing = str(agent.data_dir / "images" / "missing.raw")
    assert_refused_and_nothing_left(
        agent, with_value(valid(agent), "boot.initrd", missing), "boot.initrd", "does not exist"
    )
