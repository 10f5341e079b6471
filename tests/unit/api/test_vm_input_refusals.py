"""PUT /vms refuses input libvirt, the seed ISO or the store cannot take, before touching anything.

The app's own routes and problem handlers over a real VmService on libvirt's test driver (a
private in-memory host per test). Bodies go out as JSON text with `\\u` escapes, as any client
can send them (a lone surrogate included). After every refusal the test compares everything a
request could leave behind: domains, volumes, files and directories under data_dir, store rows.
Auth is left out: the bearer middleware is tested elsewhere and decides nothing here.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from novacron.api import problems
from novacron.api.routes import vms as vm_routes
from novacron.api.services import AgentServices
from novacron.boot import BootProgress
from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store, open_store
from novacron.vms import ops
from novacron.vms.service import VmService
from novacron_sdk.errors import InvalidInput

TEST_NODE = Path(__file__).resolve().parents[1] / "vms" / "libvirt_test_node.xml"
NAME = "vm1"


class Agent:
    """The pieces one test needs: the HTTP client and what to inspect behind it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        cfg = AgentConfig.model_validate(
            {"system": {"node_id": "node-a", "data_dir": str(data_dir)},
             "hypervisor": {"uri": f"test://{TEST_NODE}", "max_vcpus": 4, "max_memory_mib": 2048}}
        )  # fmt: skip
        self.driver = HypervisorDriver(cfg.hypervisor, cfg.system.node_id, data_dir)
        self.driver.open()
        self.store: Store = open_store("sqlite://:memory:")
        self.vms = VmService(self.driver, self.store, cfg)
        app = FastAPI()
        problems.install(app)
        app.state.services = AgentServices(
            config=cfg, progress=BootProgress(), store=self.store, hypervisor=self.driver, vms=self.vms
        )
        app.include_router(vm_routes.router, prefix="/api/v1")
        self.http = TestClient(app, raise_server_exceptions=False)
        self.images = data_dir / "images"  # one of the agent's own image roots
        self.images.mkdir()
        (data_dir / "vms").mkdir()  # every VM's directory goes in here: it outlives them
        for name in ("vmlinuz", "initrd.img", "base.raw"):
            (self.images / name).write_bytes(b"\0" * 65536)

    def put(self, doc: dict[str, Any], name: str = NAME, query: str = "") -> Any:
        body = json.dumps(doc)  # ensure_ascii: every non-ASCII character, a lone surrogate too, as \\uXXXX
        assert body.isascii()
        return self.http.put(f"/api/v1/vms/{name}{query}", content=body.encode(),
                             headers={"content-type": "application/json"})  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        conn = self.driver.conn
        domains = sorted(d.name() for d in conn.listAllDomains(0))
        volumes = {
            p.name(): sorted(v.name() for v in p.listAllVolumes(0)) for p in conn.listAllStoragePools(0)
        }
        paths = sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*"))
        records = [r.name for r in self.store.list_vms()]
        return {"domains": domains, "volumes": volumes, "paths": paths, "records": records}

    def close(self) -> None:
        self.vms.close()
        self.store.close()
        self.driver.close()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    a = Agent(tmp_path / "data")
    yield a
    a.close()


def valid(agent: Agent) -> dict[str, Any]:
    """A VM that uses every field that reaches libvirt or the disk."""
    return {
        "name": NAME,
        "disks": [{"name": "root", "size_gib": 1, "pool": "default", "bus": "virtio"},
                  {"name": "os", "base_image": str(agent.images / "base.raw")}],
        "networks": [{"network": "default", "mac": "52:54:00:12:34:56"}],
        "cloud_init": {"user_data": "#cloud-config\n", "meta_data": "instance-id: vm1\n",
                       "network_config": "version: 2\n"},
        "boot": {"kernel": str(agent.images / "vmlinuz"), "initrd": str(agent.images / "initrd.img"),
                 "cmdline": "console=ttyS0"},
        "labels": {"env": "test"},
    }  # fmt: skip


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`doc` with the field at dotted `path` set to `value` (a NIC's bridge replaces its network)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if last == "bridge":
        del target["network"]
    target[last] = value
    return out


def assert_refused(agent: Agent, doc: dict[str, Any], field: str, reason: str) -> dict[str, Any]:
    before = agent.snapshot()
    for query in ("?dry_run=true", ""):
        r = agent.put(doc, query=query)
        assert r.status_code == 422, (field, query, r.status_code, r.text[:500])
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["field"] == field, body
        assert reason in body["detail"], body["detail"]
        assert agent.snapshot() == before, (field, query)
    return body


# Valid values of every string field that reaches libvirt or the disk, to put a bad character into.
LINE_FIELDS = {
    "name": "vm{}1",
    "disks.0.name": "ro{}ot",
    "disks.0.pool": "def{}ault",
    "networks.0.network": "def{}ault",
    "networks.0.bridge": "br{}0",
    "networks.0.mac": "52:54:00:12:34:5{}6",
    "boot.cmdline": "console=ttyS0 {}quiet",
    "labels.env": "te{}st",
}
PATH_FIELDS = {"disks.1.base_image": "base.raw", "boot.kernel": "vmlinuz", "boot.initrd": "initrd.img"}
TEXT_FIELDS = ("cloud_init.user_data", "cloud_init.meta_data", "cloud_init.network_config")
CONTROL = "must not contain control characters"
BAD_CHARACTERS = [
    ("\x00", CONTROL), ("\x01", CONTROL), ("\x1b", CONTROL), ("\x7f", CONTROL), ("\x85", CONTROL),
    ("\x9f", CONTROL), ("\ud800", "lone surrogates"), ("\udfff", "lone surrogates"),
    ("\ufffe", "noncharacters"), ("\uffff", "noncharacters"), ("\U0010ffff", "noncharacters"),
]  # fmt: skip
LINE_ONLY = [("\n", CONTROL), ("\r", CONTROL), ("\t", CONTROL)]


def _ids(cases: list[tuple[str, str]]) -> list[str]:
    return [f"U+{ord(c):04X}" for c, _ in cases]


@pytest.mark.parametrize("field", [*LINE_FIELDS, *PATH_FIELDS])
@pytest.mark.parametrize(("char", "reason"), BAD_CHARACTERS + LINE_ONLY, ids=_ids(BAD_CHARACTERS + LINE_ONLY))
def test_a_bad_character_in_a_one_line_field_is_a_422_that_leaves_nothing(
    agent: Agent, field: str, char: str, reason: str
) -> None:
    if field in PATH_FIELDS:
        file = PATH_FIELDS[field]
        value = str(agent.images / (file[:3] + char + file[3:]))
    else:
        value = LINE_FIELDS[field].format(char)
    assert_refused(agent, with_value(valid(agent), field, value), field, reason)


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(("char", "reason"), BAD_CHARACTERS, ids=_ids(BAD_CHARACTERS))
def test_a_bad_character_in_cloud_init_is_a_422_that_leaves_nothing(
    agent: Agent, field: str, char: str, reason: str
) -> None:
    body = assert_refused(
        agent, with_value(valid(agent), field, f"#cloud-config\nkey: a{char}b\n"), field, reason
    )
    assert ("other than tab, newline and carriage return" in body["detail"]) == (reason == CONTROL)


def test_cloud_init_keeps_tabs_newlines_and_carriage_returns(agent: Agent) -> None:
    doc = with_value(valid(agent), "cloud_init.user_data", "#cloud-config\r\nruncmd:\n\t- [true]\r\n")
    r = agent.put(doc)
    assert r.status_code == 200, r.text
    assert agent.snapshot()["records"] == [NAME]


def test_the_valid_vm_these_tests_spoil_is_accepted(agent: Agent) -> None:
    r = agent.put(valid(agent))
    assert r.status_code == 200, r.text
    snap = agent.snapshot()
    assert snap["domains"] == ["test", NAME] and snap["records"] == [NAME]
    assert snap["volumes"]["default"] == ["vm1-os.qcow2", "vm1-root.qcow2"]
    assert "vms/vm1/seed.iso" in snap["paths"]


LONG = [
    ("name", "a" * 64, "must match ^"),
    ("disks.0.name", "a" * 33, "must match ^"),
    ("disks.0.pool", "a" * 65, "must match ^"),
    ("disks.0.size_gib", 65537, "must be <= 65536"),
    ("disks.0.bus", "virtio\x00", "must be one of"),
    ("networks.0.network", "n" * 65, "must match ^"),
    ("networks.0.bridge", "b" * 16, "must match ^"),
    ("networks.0.mac", "52:54:00:12:34:5600", "must match ^"),
    ("boot.cmdline", "x" * 4097, "at most 4096 characters"),
    ("boot.kernel", "/" + "k" * 4096, "at most 4096 characters"),
    ("disks.1.base_image", "/" + "b" * 4096, "at most 4096 characters"),
    ("cloud_init.user_data", "x" * 65537, "at most 65536 characters"),
    ("cloud_init.meta_data", "x" * 65537, "at most 65536 characters"),
    ("cloud_init.network_config", "x" * 65537, "at most 65536 characters"),
    ("labels.env", "v" * 257, "at most 256 characters"),
]


@pytest.mark.parametrize(("field", "value", "reason"), LONG, ids=[c[0] for c in LONG])
def test_over_long_or_malformed_values_are_a_422_that_leaves_nothing(
    agent: Agent, field: str, value: Any, reason: str
) -> None:
    assert_refused(agent, with_value(valid(agent), field, value), field, reason)


@pytest.mark.parametrize("key", ["k" * 64, "a\x00b", "a\ud800", "../x", "-lead", "é"])
def test_a_bad_label_key_is_a_422_that_leaves_nothing(agent: Agent, key: str) -> None:
    doc = valid(agent)
    doc["labels"] = {key: "a\x00"}  # the bad value must not be what is reported, under a bad key
    assert_refused(agent, doc, "labels", "label key")


@pytest.mark.parametrize(("field", "value"), [("networks.0.network", "a/b"), ("networks.0.bridge", ".."),
                                              ("networks.0.bridge", "a/../b"), ("disks.0.pool", "../x"),
                                              ("disks.0.pool", "a b"), ("networks.0.network", "<x>")])  # fmt: skip
def test_names_outside_their_pattern_are_a_422_that_leaves_nothing(
    agent: Agent, field: str, value: str
) -> None:
    assert_refused(agent, with_value(valid(agent), field, value), field, "must match ^")


# -- images, kernels and initrds come from the image roots -------------------------------------
OUTSIDE = "must be a normalised absolute path to a file inside hypervisor.image_dirs"


def outside_paths(agent: Agent, tmp: Path) -> dict[str, str]:
    """Paths that name something outside the roots, the agent's own secrets among them."""
    key = agent.data_dir / "jwt.key"
    key.write_text("signing key\n")
    key.chmod(0o600)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "disk.raw").write_bytes(b"\0" * 4096)
    (agent.images / "to-shadow").symlink_to("/etc/shadow")
    (agent.images / "to-key").symlink_to(key)
    (agent.images / "to-missing").symlink_to(elsewhere / "missing.raw")
    (agent.images / "dir-out").symlink_to(elsewhere, target_is_directory=True)
    return {
        "shadow": "/etc/shadow",
        "signing key": str(key),
        "store": str(agent.data_dir / "novacron.db"),
        "outside file": str(elsewhere / "disk.raw"),
        "outside missing": str(elsewhere / "missing.raw"),
        "nonexistent": "/nonexistent/image.qcow2",
        "relative traversal": "../../etc/shadow",
        "relative": "base.raw",
        "absolute traversal": f"{agent.images}/../../../../../etc/shadow",
        "traversal back in": f"{agent.images}/../images/base.raw",
        "dot segment": f"{agent.images}/./base.raw",
        "double slash": f"{agent.images}//base.raw",
        "symlink to shadow": str(agent.images / "to-shadow"),
        "symlink to the key": str(agent.images / "to-key"),
        "symlink to a missing file": str(agent.images / "to-missing"),
        "through a symlinked dir": str(agent.images / "dir-out" / "disk.raw"),
        "the root itself": str(agent.images),
        "proc": "/proc/self/environ",
    }


@pytest.mark.parametrize("field", list(PATH_FIELDS))
def test_image_paths_outside_the_roots_are_refused_alike(agent: Agent, tmp_path: Path, field: str) -> None:
    bodies = {}
    for what, path in outside_paths(agent, tmp_path).items():
        before = agent.snapshot()
        r = agent.put(with_value(valid(agent), field, path))
        assert r.status_code == 422, (what, r.text)
        assert agent.snapshot() == before, what
        assert r.json()["field"] == field and OUTSIDE in r.json()["detail"], (what, r.text)
        bodies[what] = r.content
    # Whether a file exists there (or is the agent's own secret) changes not one byte of the answer.
    assert len(set(bodies.values())) == 1, {k: v[:200] for k, v in bodies.items()}


@pytest.mark.parametrize("field", list(PATH_FIELDS))
def test_inside_the_roots_a_missing_file_a_directory_or_a_fifo_is_refused(agent: Agent, field: str) -> None:
    (agent.images / "subdir").mkdir()
    os.mkfifo(agent.images / "fifo")
    for name in ("missing.raw", "subdir", "fifo"):
        assert_refused(agent, with_value(valid(agent), field, str(agent.images / name)), field,
                       "does not exist or is not a readable file")  # fmt: skip


def test_files_in_the_pool_directory_and_symlinks_within_the_roots_are_accepted(agent: Agent) -> None:
    pool_dir = agent.data_dir / "pools" / "default"
    (pool_dir / "golden.raw").write_bytes(b"\0" * 8192)
    (agent.images / "current").symlink_to(agent.images / "vmlinuz")
    doc = with_value(valid(agent), "disks.1.base_image", str(pool_dir / "golden.raw"))
    doc = with_value(doc, "boot.kernel", str(agent.images / "current"))
    r = agent.put(doc)
    assert r.status_code == 200, r.text
    xml = agent.driver.conn.lookupByName(NAME).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert str(agent.images / "current") in xml


# -- nothing left behind when a later step fails; no XML in a 502 ------------------------------
def test_a_store_that_refuses_the_record_leaves_no_vm_behind(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_rec: Any) -> None:
        raise InvalidInput("must not contain NUL characters", field="spec")

    before = agent.snapshot()
    monkeypatch.setattr(agent.store, "put_vm", refuse)
    r = agent.put(valid(agent))
    assert r.status_code == 422, r.text
    assert agent.snapshot() == before  # no domain, volume, seed ISO or VM directory


def test_a_libvirt_refusal_never_echoes_the_domain_xml(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    build = ops.build_domain_xml

    def broken(spec: Any, layout: Any) -> str:  # what libvirt's parser says of a control character
        return build(spec, layout).replace("console=ttyS0", "console=ttyS0\x01")

    monkeypatch.setattr(ops, "build_domain_xml", broken)
    before = agent.snapshot()
    r = agent.put(valid(agent))
    assert r.status_code == 502, r.text
    detail = r.json()["detail"]
    assert detail.startswith("defining the domain: ") and "invalid Char value 1" in detail, detail
    for leak in ("<domain", "<metadata", "spec-hash", "vmlinuz", "\n"):
        assert leak not in detail, (leak, detail)
    assert len(detail) <= 400
    assert agent.snapshot() == before
