"""What the source and destination halves of a migration share: services, thread pool, persistence."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from novacron.config.model import AgentConfig
from novacron.dwcp.mode.profiles import ModeProfile, profile_for
from novacron.dwcp.mode.rollout import Flags, effective_flags
from novacron.hypervisor.driver import HypervisorDriver
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.metrics import MigrationMetrics
from novacron.migration.peer import PeerClient
from novacron.store import Store
from novacron.transport import TlsContexts
from novacron_sdk.errors import InvalidInput, Unavailable
from novacron_sdk.models.migration import Migration

T = TypeVar("T")


def now() -> datetime:
    return datetime.now(UTC)


def split_address(address: str, field: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InvalidInput(f"must look like HOST:PORT, got {address!r}", field=field)
    return host.strip("[]"), int(port)


@dataclass
class Deps:
    config: AgentConfig
    store: Store
    driver: HypervisorDriver
    vms: Any  # VmService (its per-VM lock serialises a migration with converge/delete)
    mode: Any  # ModeService or None
    peers: PeerClient
    tls: TlsContexts | None
    metrics: MigrationMetrics
    pool: ThreadPoolExecutor

    @property
    def node_id(self) -> str:
        return self.config.system.node_id

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Blocking libvirt/store work, in the migration service's own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    def save(self, m: Migration) -> None:
        self.store.put_migration(m.id, m.vm, m.phase, m.model_dump(mode="json"))

    def load(self, mig_id: str) -> Migration | None:
        doc = self.store.get_migration(mig_id)
        return Migration.model_validate(doc) if doc is not None else None

    def put_note(self, mig_id: str, key: str, value: Any) -> None:
        self.store.set_kv(f"migration/{mig_id}/{key}", json.dumps(value))

    def get_note(self, mig_id: str, key: str) -> Any:
        raw = self.store.get_kv(f"migration/{mig_id}/{key}")
        return json.loads(raw) if raw else None

    def profile_and_flags(self) -> tuple[ModeProfile, Flags]:
        """The data-plane settings of the current DWCP mode and the v3 flags in force here."""
        if self.mode is not None:
            return self.mode.profile, self.mode.flags
        dw = self.config.dwcp
        return profile_for(dw.forced_mode or "datacenter", dw), effective_flags(dw, self.node_id)

    def link_mbps(self, node_id: str) -> float | None:
        """The lower of the measured and the predicted bandwidth to `node_id` (Mbit/s), None when
        neither is known: where a choice is safe only on a fast link, the cautious figure."""
        link = self.mode.peer_link(node_id) if self.mode is not None else None
        figures = [x for x in (link.bandwidth_mbps, link.predicted_mbps) if x] if link is not None else []
        return min(figures) if figures else None

    def endpoint(self, node_id: str, field: str = "destination") -> PeerEndpoint:
        """Where `node_id`'s DWCP listener is, with the TLS context that authenticates it."""
        if self.tls is None:
            raise Unavailable("dwcp.tls_cert, dwcp.tls_key and dwcp.tls_ca are not configured", field="dwcp.tls_cert")
        peer = self.peers.peer(node_id)
        if peer is None or not peer.dwcp_address:
            raise InvalidInput(f"node {node_id!r} is not a peer with a dwcp_address", field=field)
        host, port = split_address(peer.dwcp_address, f"peers.{node_id}.dwcp_address")
        return PeerEndpoint(host, port, node_id, self.tls.client)
