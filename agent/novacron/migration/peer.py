"""Calls from this agent to its peers (`config.peers`): the typed peer protocol (models/peer.py).

Every request carries a node assertion signed with this node's certificate key (auth/
node_assertion.py): the peer learns from the certificate which node calls, and the assertion
covers the method, path and body. HTTPS peers are verified against the cluster CA. A peer's
problem+json answer comes back as the matching NovacronError, so a destination's "no capacity"
reaches the user word for word; an answer that does not fit its model is the peer's failure.
"""

from __future__ import annotations

import ssl
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from novacron.auth.node_assertion import SCHEME, NodeSigner
from novacron.config.model import AgentConfig, PeerConfig
from novacron_sdk.errors import Conflict, InvalidInput, NotFound, NovacronError, Unavailable
from novacron_sdk.models.peer import (
    PeerAbort,
    PeerAborted,
    PeerComplete,
    PeerCompleted,
    PeerPrepare,
    PeerPrepared,
    PeerVm,
    abort_path,
    complete_path,
    prepare_path,
    vm_path,
)

# An idle pooled connection is dropped here well before the peer's server closes it
# (runtime/server.py KEEPALIVE_S), so a request never meets the server's close on the way.
KEEPALIVE_S = 20.0
# A peer's 401/403 is about this node's credentials, not the client's: it reaches the client as a 502.
_BY_STATUS: dict[int, type[NovacronError]] = {404: NotFound, 409: Conflict, 422: InvalidInput, 503: Unavailable}
M = TypeVar("M", bound=BaseModel)


class PeerError(NovacronError):
    status = 502
    title = "Peer agent failed"


class PeerClient:
    def __init__(self, config: AgentConfig, signer: NodeSigner | None, *, timeout: float = 30.0) -> None:
        self.config = config
        self._signer = signer
        self._http = httpx.AsyncClient(
            timeout=timeout, verify=_verify(config), limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S)
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

    # -- the protocol --------------------------------------------------------------------------
    async def prepare(self, node: str, mig_id: str, body: PeerPrepare, timeout: float | None = None) -> PeerPrepared:
        return await self._call(node, "POST", prepare_path(mig_id), body, PeerPrepared, timeout)

    async def complete(self, node: str, mig_id: str, body: PeerComplete, timeout: float | None = None) -> PeerCompleted:
        return await self._call(node, "POST", complete_path(mig_id), body, PeerCompleted, timeout)

    async def abort(self, node: str, mig_id: str, body: PeerAbort, timeout: float | None = None) -> PeerAborted:
        return await self._call(node, "POST", abort_path(mig_id), body, PeerAborted, timeout)

    async def vm(self, node: str, name: str, timeout: float | None = None) -> PeerVm:
        return await self._call(node, "GET", vm_path(name), None, PeerVm, timeout)

    # -- transport -----------------------------------------------------------------------------
    async def _call(
        self, node_id: str, method: str, path: str, body: BaseModel | None, answer: type[M], timeout: float | None
    ) -> M:
        peer = self.peer(node_id)
        if peer is None:
            raise InvalidInput(f"unknown node {node_id!r}", field="destination")
        if self._signer is None:
            raise Unavailable(
                f"{self.node_id} has no node certificate to call its peers with: set dwcp.tls_cert, dwcp.tls_key "
                "and dwcp.tls_ca", field="dwcp.tls_cert",
            )  # fmt: skip
        content = body.model_dump_json().encode() if body is not None else b""
        request = self._http.build_request(
            method, peer.api_url.rstrip("/") + "/api/v1" + path, content=content or None,
            headers={"content-type": "application/json"} if content else None,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )  # fmt: skip
        assertion = self._signer.sign(audience=node_id, method=method, target=request.url.raw_path.decode(), body=content)
        request.headers["Authorization"] = f"{SCHEME} {assertion}"
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise Unavailable(f"peer {node_id} at {peer.api_url} is unreachable: {exc!r}") from None
        if response.status_code >= 400:
            raise _error(node_id, response)
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise PeerError(f"{node_id} answered {path} with a document that is not a {answer.__name__}: "
                            f"{exc.errors(include_url=False)[0]['msg']}") from None  # fmt: skip


def _error(node_id: str, response: httpx.Response) -> NovacronError:
    try:
        doc: Any = response.json()
    except ValueError:
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    detail = str(doc.get("detail") or response.text[:300])[:2000]
    field = doc.get("field") if isinstance(doc.get("field"), str) else None
    cls = _BY_STATUS.get(response.status_code, PeerError)
    err = cls(f"{node_id}: {detail}", field=field)
    err.status = response.status_code if cls is PeerError and response.status_code >= 500 else cls.status
    return err


def _verify(config: AgentConfig) -> ssl.SSLContext | bool:
    """HTTPS peers present certificates of the cluster CA (the role turns the API's TLS on with them)."""
    dw = config.dwcp
    if dw.tls_ca is None:
        return True
    ctx = ssl.create_default_context(cafile=str(dw.tls_ca))
    if dw.tls_cert is not None and dw.tls_key is not None:
        ctx.load_cert_chain(str(dw.tls_cert), str(dw.tls_key))
    return ctx
