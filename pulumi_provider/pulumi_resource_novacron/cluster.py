"""The agents of one cluster as the provider sees them, and where a VM really runs.

Each agent is known by its endpoint; its node_id is learned from GET /api/v1/node on first use.
`locate` asks the agents' cluster lookup (`novacron_sdk.client.locate_in_cluster`: the node the
state remembers first, then the others, until one can tell), so a refresh after an out-of-band
migration reports the new node instead of a deleted VM. A VM is only reported gone when every
agent answered and none has it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import grpc

from novacron_sdk.client import ApiError, NovacronClient, locate_in_cluster
from novacron_sdk.models.vm import VirtualMachine
from pulumi_resource_novacron.config import AgentRef, ProviderConfig
from pulumi_resource_novacron.errors import ProviderError
from pulumi_resource_novacron.translate import api_error

DISCOVERY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Located:
    node: str
    agent: AgentRef
    vm: VirtualMachine


class Cluster:
    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._node_ids: dict[AgentRef, str] = {}
        self._lock = threading.Lock()

    def client(self, agent: AgentRef, timeout: float = 60.0) -> NovacronClient:
        return NovacronClient(agent.endpoint, agent.token, ca_cert=agent.ca_cert, timeout=timeout)

    def node_id(self, agent: AgentRef) -> str:
        with self._lock:
            if agent in self._node_ids:
                return self._node_ids[agent]
        with self.client(agent, DISCOVERY_TIMEOUT_S) as c:
            try:
                node = c.node().node_id
            except ApiError as exc:
                raise api_error(exc, None) from None
        with self._lock:
            self._node_ids[agent] = node
        return node

    def agent_for(self, node: str | None) -> tuple[str, AgentRef]:
        """The agent serving `node` (None: the provider's endpoint)."""
        if not node:
            return self.node_id(self.config.default), self.config.default
        unreachable = []
        for agent in self.config.agents:
            try:
                if self.node_id(agent) == node:
                    return node, agent
            except ProviderError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE:
                    raise
                unreachable.append(agent.endpoint)
        known = ", ".join(a.endpoint for a in self.config.agents)
        down = f"; unreachable: {', '.join(unreachable)}" if unreachable else ""
        raise ProviderError(grpc.StatusCode.INVALID_ARGUMENT,
                            f"node {node!r} is not served by any configured agent ({known}){down}; "
                            "add its endpoint to the provider's `peers`", {"node": f"unknown node {node!r}"})

    def locate(self, name: str, hint: str | None = None) -> Located | None:
        """Where VM `name` runs now, or None when every agent answered that it has no such VM."""
        order = list(self.config.agents)
        if hint:
            order.sort(key=lambda agent: self._node_ids.get(agent) != hint)
        try:
            with contextlib.ExitStack() as stack:
                clients = [stack.enter_context(self.client(a, DISCOVERY_TIMEOUT_S * 3)) for a in order]
                found = locate_in_cluster(clients, name)
            if found is None:
                return None
            asked, where = found
            node, owner = self._serving(name, where, order[asked])
            with self.client(owner, DISCOVERY_TIMEOUT_S * 3) as c:
                vm = c.get_vm(name)
        except ApiError as exc:
            raise api_error(exc, None) from None
        if vm is None:
            raise ProviderError(grpc.StatusCode.UNAVAILABLE,
                                f"VM {name!r} was found on {node} and is gone from there: it is moving; try again")
        return Located(node, owner, vm)

    def _serving(self, name: str, where: dict[str, str], asked: AgentRef) -> tuple[str, AgentRef]:
        """The configured agent of the node the lookup named (the one asked, if it is that node)."""
        node = where["node"]
        if self.node_id(asked) == node:
            return node, asked
        try:
            return self.agent_for(node)
        except ProviderError as exc:
            if exc.code != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            raise ProviderError(grpc.StatusCode.FAILED_PRECONDITION,
                                f"VM {name!r} runs on node {node!r} ({where.get('api_url')}), which none of the "
                                "provider's agents serves; add its endpoint to the provider's `peers`") from None
