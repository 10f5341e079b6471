"""The agents of one cluster as the provider sees them, and where a VM really runs.

Each agent is known by its endpoint; its node_id is learned from GET /api/v1/node on first use.
`locate` finds a VM wherever it runs: first on the node the state remembers, then on every other
agent, so a refresh after an out-of-band migration reports the new node instead of a deleted VM.
A VM is only reported gone when every agent answered and none has it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc

from novacron_sdk.client import ApiError, NovacronClient
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
            for agent in order:
                if self._node_ids.get(agent) == hint:
                    order.remove(agent)
                    order.insert(0, agent)
                    break
        unreachable: list[str] = []
        for agent in order:
            try:
                with self.client(agent, DISCOVERY_TIMEOUT_S * 3) as c:
                    vm = c.get_vm(name)
                if vm is not None:
                    return self._owner(name, agent, vm)
            except ApiError as exc:
                if exc.status not in (0, 502, 503, 504):
                    raise api_error(exc, None) from None
                why = (exc.detail or exc.title).removeprefix(f"{agent.endpoint.rstrip('/')}: ")
                unreachable.append(f"{agent.endpoint} ({why})")
        if unreachable:
            raise ProviderError(grpc.StatusCode.UNAVAILABLE,
                                f"cannot tell where VM {name!r} runs: no agent that answered has it, and "
                                f"these are unreachable: {'; '.join(unreachable)}")
        return None


    def _owner(self, name: str, agent: AgentRef, vm: VirtualMachine) -> Located:
        """Follow a record that names another node as the owner (the VM moved there)."""
        here = self.node_id(agent)
        if vm.status.node and vm.status.node != here:
            try:
                node, owner = self.agent_for(vm.status.node)
                with self.client(owner, DISCOVERY_TIMEOUT_S * 3) as c:
                    moved = c.get_vm(name)
                if moved is not None:
                    return Located(node, owner, moved)
            except (ProviderError, ApiError):
                pass
        return Located(vm.status.node or here, agent, vm)
