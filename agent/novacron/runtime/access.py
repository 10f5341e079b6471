"""Wiring of who may call the agent: client tokens (scoped, revocable) and node certificates."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from novacron.api.services import AgentServices
from novacron.auth.authenticator import Authenticator
from novacron.auth.issuing import TokenIssuer
from novacron.auth.node_assertion import NodeVerifier
from novacron.auth.revocations import Revocations
from novacron.pki.identity import ClusterCA
from novacron.secrets.key import SigningKey


@dataclass
class Access:
    authenticator: Authenticator
    revocations: Revocations | None

    async def stop(self) -> None:
        if self.revocations is not None:
            await self.revocations.stop()


async def start_access(svc: AgentServices, key: SigningKey) -> Access:
    cfg = svc.config
    revocations = None
    if svc.store is not None:
        revocations = Revocations(svc.store)
        await asyncio.to_thread(revocations.load, prune=True)
        revocations.start()
    nodes = None
    if cfg.dwcp.tls_ca is not None:  # the cluster CA: what proves a peer is a node of this cluster
        ca = await asyncio.to_thread(ClusterCA.load, cfg.dwcp.tls_ca)
        nodes = NodeVerifier(ca, cfg.system.node_id)
    svc.tokens = TokenIssuer(key, cfg.auth, revocations)
    auth = Authenticator(key, cfg.auth.issuer, cfg.auth.max_token_ttl_s, revocations, nodes)
    return Access(auth, revocations)
