"""HTTP calls from this agent to its peers (`config.peers`), for migrations and for finding VMs.

Authentication: the agents of a cluster share the JWT signing key (auth.key_file / Vault path), so
each agent mints itself a short-lived token for the call; a peer's problem+json answer comes back
as the matching NovacronError, so a destination's "no capacity" reaches the user word for word.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from novacron.auth.tokens import mint_token
from novacron.errors import Conflict, InvalidInput, NotFound, NovacronError, Unavailable
from novacron.models.config import AgentConfig, PeerConfig

TOKEN_TTL_S = 300
# An idle pooled connection is dropped here well before the peer's server closes it
# (runtime/server.py KEEPALIVE_S). With both at httpx's and uvicorn's 5 s, a migration that took
# ~5 s after its prepare call sent "complete" down a connection the server was closing: "Server
# disconnected without sending a response", and the hand-over waited 2 s for its retry.
KEEPALIVE_S = 20.0
_BY_STATUS: dict[int, type[NovacronError]] = {404: NotFound, 409: Conflict, 422: InvalidInput, 503: Unavailable}


class PeerError(NovacronError):
    status = 502
    title = "Peer agent failed"


class PeerClient:
    def __init__(self, config: AgentConfig, signing_key: Any, *, timeout: float = 30.0) -> None:
        self.config = config
        self._key = signing_key
        self._token: tuple[str, float] | None = None
        self._http = httpx.AsyncClient(
            timeout=timeout, verify=True, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        )

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def node_id(self) -> str:
        return self.config.system.node_id

    def peers(self) -> list[PeerConfig]:
        return list(self.config.peers)

    def peer(self, node_id: str) -> PeerConfig | None:
        return next((p for p in self.config.peers if p.node_id == node_id), None)

    def _bearer(self) -> str:
        now = time.monotonic()
        if self._token is None or self._token[1] < now:
            token = mint_token(
                self._key, subject=f"node:{self.node_id}", ttl_s=TOKEN_TTL_S, issuer=self.config.auth.issuer
            )
            self._token = (token, now + TOKEN_TTL_S / 2)
        return self._token[0]

    async def call(
        self, node_id: str, method: str, path: str, *, body: Any = None, timeout: float | None = None
    ) -> Any:
        peer = self.peer(node_id)
        if peer is None:
            raise InvalidInput(f"unknown node {node_id!r}", field="destination")
        url = peer.api_url.rstrip("/") + "/api/v1" + path
        try:
            response = await self._http.request(
                method, url, json=body, headers={"Authorization": f"Bearer {self._bearer()}"},
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise Unavailable(f"peer {node_id} at {peer.api_url} is unreachable: {exc!r}") from None
        if response.status_code >= 400:
            try:
                doc = response.json()
            except ValueError:
                doc = {}
            detail = str(doc.get("detail") or response.text[:300])
            cls = _BY_STATUS.get(response.status_code, PeerError)
            err = cls(f"{node_id}: {detail}", field=doc.get("field"))
            err.status = response.status_code if cls is PeerError else cls.status
            raise err
        return response.json() if response.content else None
