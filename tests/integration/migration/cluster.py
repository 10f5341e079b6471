"""A two-node NovaCron cluster for migration tests (and the benchmark): real namespaces, libvirtds,
agents and QEMU guests.

Layout per host i (a, b): a network namespace from the Testbed (the emulated link, 10.213.0.x),
a private libvirtd in it, and an agent in it (API :8080, DWCP :7070 on every address of the
namespace). Peers reach each other over the emulated link. The test process, outside the
namespaces, reaches each agent over a management veth (10.214.i.2) that bypasses the link, so
test traffic never competes with a migration. Agents share one JWT key (tokens work on both) and
one test CA (per-node certificates named after the node, for the DWCP mutual TLS).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from novacron_sdk.client import NovacronClient
from tests.tooling._cmd import run
from tests.tooling.agent import AgentProcess, start_agent
from tests.tooling.guest import GuestImage, SerialLog, guest_image_dirs, guest_memory_mib, kernel_cmdline
from tests.tooling.libvirtd import LibvirtHost
from tests.tooling.netns import Testbed

API_PORT = 8080
DWCP_PORT = 7070
METRICS_PORT = 9091


# -- PKI ----------------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_pki(directory: Path, nodes: dict[str, str], *, ca_name: str = "novacron-test-ca") -> dict[str, dict[str, Path]]:
    """A CA and one certificate per node (DNS name = node_id, plus its address). Returns paths."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_path = directory / f"{ca_name}.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out = {}
    for node, addr in nodes.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(_name(node)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(node), x509.IPAddress(ipaddress.ip_address(addr))]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        (directory / f"{node}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{node}.key").write_bytes(_pem_key(key))
        out[node] = {"cert": directory / f"{node}.pem", "key": directory / f"{node}.key", "ca": ca_path}
    return out


# -- nodes --------------------------------------------------------------------------------------
@dataclass
class Node:
    index: int
    node_id: str
    ns: str
    link_addr: str
    mgmt_addr: str
    data_dir: Path
    libvirt: LibvirtHost
    overrides: dict[str, Any]
    agent: AgentProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.mgmt_addr}:{API_PORT}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.link_addr}:{API_PORT}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.mgmt_addr}:{METRICS_PORT}/metrics"

    def client(self, timeout: float = 60.0) -> NovacronClient:
        assert self.agent is not None, f"agent {self.node_id} is not running"
        return NovacronClient(self.url, self.agent.token, timeout=timeout)

    def console_log(self, vm: str) -> SerialLog:
        return SerialLog(self.data_dir / "vms" / vm / "console.log")

    def virsh_state(self, vm: str) -> str:
        """libvirt's own view (not the agent's): running, paused, shut off... or missing."""
        try:
            return self.libvirt.virsh("domstate", vm).strip()
        except Exception:
            return "missing"

    def store_owner(self, vm: str) -> str | None:
        """VmRecord.node straight from the agent's SQLite store (read-only)."""
        db = sqlite3.connect(f"file:{self.data_dir / 'novacron.db'}?mode=ro", uri=True, timeout=10)
        try:
            row = db.execute("SELECT node FROM vms WHERE name = ?", (vm,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None


@dataclass
class Cluster:
    testbed: Testbed
    nodes: list[Node]
    root: Path
    pki: dict[str, dict[str, Path]] = field(default_factory=dict)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def other(self, node: Node) -> Node:
        return next(n for n in self.nodes if n is not node)

    def start_agent(self, node: Node) -> AgentProcess:
        node.agent = start_agent(
            node.data_dir, node.node_id, overrides=node.overrides, wrapper=["ip", "netns", "exec", node.ns],
            timeout=90,
        )  # fmt: skip
        node.agent.url = node.url
        node.agent.metrics_url = node.metrics_url
        return node.agent

    def kill_agent(self, node: Node) -> None:
        assert node.agent is not None
        node.agent.proc.kill()
        node.agent.proc.wait(10)

    def where(self, vm: str) -> Node:
        """The node whose libvirt runs `vm` (exactly one must)."""
        running = [n for n in self.nodes if n.virsh_state(vm) == "running"]
        assert len(running) == 1, {n.node_id: n.virsh_state(vm) for n in self.nodes}
        return running[0]

    def close(self) -> None:
        for n in self.nodes:
            if n.agent is not None:
                with contextlib.suppress(Exception):
                    n.agent.stop()
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.libvirt.stop()
        self.testbed.close()
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(root: Path, *, profile: str = "datacenter", node_overrides: dict[str, dict[str, Any]] | None = None,
                  dwcp: dict[str, Any] | None = None) -> Cluster:  # fmt: skip
    """Two hosts, two libvirtds, two agents; closes everything it made if a step fails."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    tb = Testbed(2, profile, allow_congestion=("cubic", "bbr", "reno")).start()
    cluster = Cluster(tb, [], root)
    try:
        ids = {f"node-{chr(97 + h.index)}": h for h in tb.hosts}
        cluster.pki = make_pki(root / "pki", {nid: h.addr for nid, h in ids.items()})
        key_file = root / "cluster-jwt.key"
        peers = [
            {"node_id": nid, "api_url": f"http://{h.addr}:{API_PORT}", "dwcp_address": f"{h.addr}:{DWCP_PORT}"}
            for nid, h in ids.items()
        ]
        for nid, h in ids.items():
            mgmt = _mgmt_link(tb, h.index, h.ns)
            qemu_tls = root / "pki" / f"{nid}-qemu-tls"
            qemu_tls.mkdir(parents=True, exist_ok=True)
            tls = cluster.pki[nid]
            for name, src in (("ca-cert.pem", "ca"), ("server-cert.pem", "cert"), ("server-key.pem", "key"),
                              ("client-cert.pem", "cert"), ("client-key.pem", "key")):
                shutil.copyfile(tls[src], qemu_tls / name)
            lvh = LibvirtHost(f"lv-{nid}", root, netns=h.ns, migrate_tls_dir=qemu_tls)
            lvh.start()
            overrides: dict[str, Any] = {
                "system": {"node_id": nid, "data_dir": str(root / nid), "log_level": "INFO"},
                "api": {"listen_address": "0.0.0.0", "port": API_PORT},
                "metrics": {"listen_address": "0.0.0.0", "port": METRICS_PORT},
                "dwcp": {"listen_port": DWCP_PORT, "tls_cert": str(tls["cert"]), "tls_key": str(tls["key"]),
                         "tls_ca": str(tls["ca"]), **(dwcp or {})},
                "hypervisor": {"uri": lvh.uri, "accel": "tcg", "storage_pool": "nvmig", "max_vcpus": 2,
                               "max_memory_mib": 1024, "shutdown_timeout_s": 20, "image_dirs": guest_image_dirs()},
                "auth": {"key_file": str(key_file)},
                "peers": [p for p in peers if p["node_id"] != nid],
            }  # fmt: skip
            for section, values in (node_overrides or {}).get(nid, {}).items():
                overrides.setdefault(section, {}).update(values)
            node = Node(h.index, nid, h.ns, h.addr, mgmt, root / nid, lvh, overrides)
            cluster.nodes.append(node)
        for node in cluster.nodes:
            cluster.start_agent(node)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _mgmt_link(tb: Testbed, index: int, ns: str) -> str:
    """A veth from the test process's namespace into host `index`'s namespace; returns its address.

    Each link gets a /24 of 10.214.0.0/16 that no interface of this namespace uses yet (other test
    clusters may run at the same time)."""
    outside = f"ncm{tb.id}{index}"
    used = run(["ip", "-4", "-o", "addr", "show"]).stdout
    free = [k for k in range(1, 255) if f" 10.214.{k}." not in used]
    k = free[(int(tb.id, 16) + index) % len(free)]
    run(["ip", "link", "add", outside, "type", "veth", "peer", "name", "mgmt0", "netns", ns])
    run(["ip", "addr", "add", f"10.214.{k}.1/24", "dev", outside])
    run(["ip", "link", "set", outside, "up"])
    run(["ip", "-n", ns, "addr", "add", f"10.214.{k}.2/24", "dev", "mgmt0"])
    run(["ip", "-n", ns, "link", "set", "mgmt0", "up"])
    return f"10.214.{k}.2"


# -- guests -------------------------------------------------------------------------------------
def guest_spec(image: GuestImage, name: str, *, wss_mb: int = 64, rate: int = 0, memory_mib: int | None = None,
               state: str = "running") -> dict[str, Any]:  # fmt: skip
    """A diskless kernel-boot test guest (the kind that can migrate)."""
    return {
        "name": name, "vcpus": 1, "memory_mib": memory_mib or guest_memory_mib(wss_mb) + 32, "state": state,
        "boot": {"kernel": str(image.kernel), "initrd": str(image.initrd), "cmdline": kernel_cmdline(wss_mb, rate)},
    }  # fmt: skip


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)
