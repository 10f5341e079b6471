"""A destination node in-process: the real API app, MigrationService and store, on a private
libvirt test-driver host, with a cluster CA and node certificates for the callers."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from novacron.api.app import create_app
from novacron.api.services import AgentServices
from novacron.auth.authenticator import Authenticator
from novacron.auth.issuing import TokenIssuer
from novacron.auth.node_assertion import SCHEME, NodeSigner, NodeVerifier
from novacron.auth.revocations import Revocations
from novacron.boot import BootProgress
from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.migration.service import MigrationService
from novacron.pki.identity import ClusterCA
from novacron.secrets.key import SigningKey, generate_key_text
from novacron.store import open_store
from novacron.vms.service import VmService
from tests.tooling.certs import Leaf, issue, make_ca

TEST_NODE = Path(__file__).resolve().parents[1] / "vms" / "libvirt_test_node.xml"
ME = "node-b"


@dataclass
class Pki:
    ca: Path
    leaves: dict[str, Leaf]
    ca_cert: x509.Certificate
    ca_key: Any


def make_pki(root: Path, nodes: tuple[str, ...] = ("node-a", "node-b", "node-c")) -> Pki:
    ca_path, ca_cert, ca_key = make_ca(root / "ca")
    leaves = {n: issue(root / "ca", n, ca_cert, ca_key, hosts=(n, "127.0.0.1")) for n in nodes}
    return Pki(ca_path, leaves, ca_cert, ca_key)


def free_dest_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return int(s.getsockname()[1])


class Destination:
    """node-b: what its peers' requests reach, and what they leave behind."""

    def __init__(self, root: Path, pki: Pki) -> None:
        leaf = pki.leaves[ME]
        self.config = AgentConfig.model_validate({
            "system": {"node_id": ME, "data_dir": str(root / "data"), "max_concurrency": 8},
            "hypervisor": {"uri": f"test://{TEST_NODE}", "max_memory_mib": 4096, "max_vcpus": 8},
            "dwcp": {"tls_cert": str(leaf.cert), "tls_key": str(leaf.key), "tls_ca": str(pki.ca), "listen_port": 0},
            "peers": [{"node_id": n, "api_url": f"http://{n}.invalid:8080", "dwcp_address": "127.0.0.1:9"}
                      for n in pki.leaves if n != ME],
        })  # fmt: skip
        self.pki = pki
        self.key = SigningKey(generate_key_text())
        self.driver = HypervisorDriver(self.config.hypervisor, ME, self.config.system.data_dir)
        self.driver.open()
        self.store = open_store(f"sqlite:///{root / 'data' / 'novacron.db'}")
        self.vms = VmService(self.driver, self.store, self.config)
        self.migrations = MigrationService(self.config, self.store, self.driver, self.vms, None)
        self.svc = AgentServices(config=self.config, progress=BootProgress(), store=self.store,
                                 hypervisor=self.driver, vms=self.vms, migrations=self.migrations)  # fmt: skip
        revocations = Revocations(self.store)
        self.svc.tokens = TokenIssuer(self.key, self.config.auth, revocations)
        verifier = NodeVerifier(ClusterCA.load(pki.ca), ME)
        self.auth = Authenticator(self.key, "novacron", self.config.auth.max_token_ttl_s, revocations, verifier)
        self.app = create_app(self.svc, self.auth)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://node-b")

    async def close(self) -> None:
        await self.http.aclose()
        await self.migrations.incoming.close()
        await self.migrations.d.peers.close()
        self.migrations.d.pool.shutdown(wait=False)
        self.vms.close()
        self.store.close()
        self.driver.close()

    def signer(self, node: str) -> NodeSigner:
        leaf = self.pki.leaves[node]
        return NodeSigner.load(node, leaf.cert, leaf.key)

    async def peer_call(self, node: str | NodeSigner, method: str, path: str, body: Any = None,
                        *, audience: str = ME, content: bytes | None = None) -> httpx.Response:
        """A request as `node` signs it (its own certificate) to the peer API of node-b."""
        signer = self.signer(node) if isinstance(node, str) else node
        raw = content if content is not None else (httpx.Request("POST", "http://x", json=body).content if body is not None else b"")
        req = self.http.build_request(method, "/api/v1" + path, content=raw or None,
                                      headers={"content-type": "application/json"} if raw else None)  # fmt: skip
        req.headers["Authorization"] = f"{SCHEME} " + signer.sign(
            audience=audience, method=method, target=req.url.raw_path.decode(), body=raw)
        return await self.http.send(req)

    def client_headers(self, *scopes: str) -> dict[str, str]:
        token, _ = self.svc.tokens.mint("tester", list(scopes) or ["operate"])
        return {"Authorization": f"Bearer {token}"}

    def leftovers(self) -> dict[str, Any]:
        """Everything a refused request could leave: domains, migration records, notes, relays."""
        return {
            "domains": sorted(d.name() for d in self.driver.conn.listAllDomains(0)),
            "migrations": [m["id"] for m in self.store.list_migrations()],
            "active": sorted(self.migrations.incoming.active),
            "vms": [r.name for r in self.store.list_vms()],
        }
