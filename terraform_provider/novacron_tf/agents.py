"""Which agent to ask: the provider's endpoint plus `peer` blocks, by node id.

A VM lives on one node and may move, so every VM operation goes through `Agents`: it knows each
agent's client, learns each agent's node id on first use, and finds a VM wherever it runs through
the agents' cluster lookup (`novacron_sdk.client.locate_in_cluster`). "not found" is only
concluded when every agent answered; an unreachable one makes it an error, so a network blip
never makes Terraform forget (and later recreate) a VM.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from novacron_sdk.client import ApiError, NovacronClient, locate_in_cluster
from novacron_sdk.models.vm import VirtualMachine
from novacron_tf.diagnostics import Diagnostic, DiagnosticsError, error

READ_TIMEOUT_S = 30.0
CHANGE_TIMEOUT_S = 900.0  # converge, graceful shutdown and delete can take minutes


@dataclass(frozen=True)
class AgentRef:
    endpoint: str
    token: str | None = None
    ca_cert: str | None = None
    node_id: str | None = None  # declared in a peer block; learned from the agent otherwise
    origin: tuple[str | int, ...] = ("endpoint",)  # attribute path for diagnostics


def _ca_path(ca_cert: str | None) -> str | None:
    """The provider accepts a path or PEM text; httpx wants a path."""
    if not ca_cert or "-----BEGIN" not in ca_cert:
        return ca_cert or None
    fd, path = tempfile.mkstemp(prefix="novacron-ca-", suffix=".pem")
    with os.fdopen(fd, "w") as fh:
        fh.write(ca_cert)
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


def parse_config(config: Mapping[str, Any], env: Mapping[str, str]) -> tuple[list[AgentRef], list[Diagnostic]]:
    """Provider config (with NOVACRON_* env fallbacks) -> agents, primary first."""
    diags: list[Diagnostic] = []
    endpoint = config.get("endpoint") or env.get("NOVACRON_ENDPOINT")
    token = config.get("token") or env.get("NOVACRON_TOKEN")
    ca_cert = config.get("ca_cert") or env.get("NOVACRON_CA_CERT")
    refs: list[AgentRef] = []
    if not endpoint:
        diags.append(error("Missing agent endpoint", "endpoint: set it in the provider block or in "
                                                     "NOVACRON_ENDPOINT (e.g. https://node-1:8080).", ("endpoint",)))
    elif not str(endpoint).startswith(("http://", "https://")):
        diags.append(error("Invalid endpoint", f"endpoint: {endpoint!r} must start with http:// or https://",
                           ("endpoint",)))
    else:
        refs.append(AgentRef(str(endpoint), token, ca_cert))
    seen: set[str] = set()
    for i, peer in enumerate(config.get("peer") or []):
        url = peer.get("endpoint") or ""
        if not str(url).startswith(("http://", "https://")):
            diags.append(error("Invalid endpoint", f"peer[{i}].endpoint: {url!r} must start with http:// or https://",
                               ("peer", i, "endpoint")))
            continue
        node_id = peer.get("node_id")
        if node_id is not None and node_id in seen:
            diags.append(error("Duplicate peer", f"peer[{i}].node_id: {node_id!r} is declared twice",
                               ("peer", i, "node_id")))
        seen.add(node_id)
        refs.append(AgentRef(str(url), peer.get("token") or token, peer.get("ca_cert") or ca_cert, node_id,
                             ("peer", i, "endpoint")))
    return refs, diags


class Agents:
    def __init__(self, refs: list[AgentRef]) -> None:
        self.refs = refs
        self._lock = threading.Lock()
        self._clients: dict[tuple[int, bool], NovacronClient] = {}
        self._node_ids: dict[int, str] = {i: r.node_id for i, r in enumerate(refs) if r.node_id}

    def client(self, index: int, *, slow: bool = False) -> NovacronClient:
        with self._lock:
            key = (index, slow)
            if key not in self._clients:
                ref = self.refs[index]
                self._clients[key] = NovacronClient(ref.endpoint, ref.token, ca_cert=_ca_path(ref.ca_cert),
                                                    timeout=CHANGE_TIMEOUT_S if slow else READ_TIMEOUT_S)
            return self._clients[key]

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    def node_id(self, index: int) -> str:
        """The node id of agent `index` (asks it once; raises ApiError if unreachable)."""
        if index not in self._node_ids:
            self._node_ids[index] = self.client(index).node().node_id
        return self._node_ids[index]

    def index_of(self, node_id: str | None, *, path: tuple[str | int, ...] = ("node",)) -> int:
        """Agent serving `node_id` (None: the primary). Unknown nodes are a diagnostic at `path`."""
        if node_id is None:
            return 0
        for i in range(len(self.refs)):
            if self._node_ids.get(i) == node_id:
                return i
        failures: list[ApiError] = []
        for i in range(len(self.refs)):
            if i in self._node_ids:
                continue
            try:
                if self.node_id(i) == node_id:
                    return i
            except ApiError as exc:
                failures.append(exc)
        if failures:  # it may be the one we cannot reach: say that, not "unknown"
            raise failures[0]
        known = ", ".join(sorted(self._node_ids.values()))
        raise DiagnosticsError([error(f"Unknown node {node_id!r}", f"node: no agent for node {node_id!r}; known "
                                      f"nodes: {known}. Add a `peer` block for it to the provider.", path)])

    def find_vm(self, name: str, hint: str | None = None) -> tuple[int, VirtualMachine] | None:
        """The VM and the agent that has it, asking the node it was last seen on first."""
        order = sorted(range(len(self.refs)), key=lambda i: hint is None or self._node_ids.get(i) != hint)
        found = locate_in_cluster([self.client(i) for i in order], name)
        if found is None:
            return None
        asked, where = found
        idx = order[asked]
        if self.node_id(idx) != where["node"]:
            try:
                idx = self.index_of(where["node"])
            except DiagnosticsError:
                raise DiagnosticsError([error("VM on an unknown node", f"VM {name!r} runs on node {where['node']!r} "
                                              f"({where.get('api_url')}), which no configured agent serves. Add a "
                                              "`peer` block for it to the provider.")]) from None
        vm = self.client(idx).get_vm(name)
        if vm is None:
            raise ApiError(503, "VM moving", f"VM {name!r} was found on node {where['node']} and is gone from "
                           "there: it is moving; try again")
        return idx, vm
