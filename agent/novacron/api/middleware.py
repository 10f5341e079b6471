"""ASGI middleware that must run before any handler: body size limit, authentication, audit.

Auth is middleware, not a FastAPI dependency, because FastAPI parses the body before it runs
dependencies: an unauthenticated caller must get 401, not a 422 about its JSON; and a node's
assertion covers the body, which only the middleware sees before the handler does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from novacron.api.problems import PROBLEM_JSON
from novacron.auth import node_assertion
from novacron.auth.authenticator import Authenticator
from novacron.auth.errors import AuthError
from novacron.auth.scopes import API_PREFIX, READ_METHODS, Principal, access_for
from novacron.store.records import AuditEntry
from novacron_sdk.errors import Forbidden

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_problem(send: Send, status: int, title: str, detail: str, www: str = "Bearer") -> None:
    doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if status in (401, 403):
        doc["field"] = "Authorization"
    body = json.dumps(doc).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", www.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    await _send_problem(send, 400, "Bad Request", "invalid Content-Length")
                    return
                if too_big:
                    await _send_problem(send, 413, "Payload Too Large", f"body over {self.max_bytes} bytes")
                    return
        seen = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_problem(send, 413, "Payload Too Large", f"body over {self.max_bytes} bytes")


class AuthMiddleware:
    """Every request under `prefix` needs a credential the Authenticator accepts for its route.

    The Principal goes into `scope["state"]["principal"]` for the handlers. Mutating calls (and
    their refusals) are handed to `audit` once the response is out: who, what, the status.
    """

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, prefix: str = API_PREFIX,
        audit: Callable[[AuditEntry], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.app, self.auth, self.prefix, self.audit = app, authenticator, prefix, audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        status = 500
        principal: Principal | None = None

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            principal, receive = await self._authenticate(scope, receive)
            self.auth.authorize(principal, access_for(method, path), method, path)
        except AuthError as exc:
            await _send_problem(tracking_send, 401, "Unauthorized", str(exc.reason), www=exc.scheme)
        except Forbidden as exc:
            await _send_problem(tracking_send, 403, "Forbidden", exc.detail)
        else:
            scope.setdefault("state", {})["principal"] = principal
            await self.app(scope, receive, tracking_send)
        finally:
            if self.audit is not None and method not in READ_METHODS:
                await self.audit(_entry(scope, principal, status))

    async def _authenticate(self, scope: Scope, receive: Receive) -> tuple[Principal, Receive]:
        header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
        if header is None:
            raise AuthError("missing token")
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            return self.auth.client(token), receive
        if scheme.lower() == node_assertion.SCHEME.lower() and token:
            body = await _read_body(receive)
            raw = scope.get("raw_path") or scope["path"].encode()
            query = scope.get("query_string") or b""
            target = raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
            principal = self.auth.node(token, method=scope["method"], target=target, body=body)
            return principal, _replay(body)
        raise AuthError("expected 'Authorization: Bearer <token>'")


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the outer BodyLimitMiddleware bounds it)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _entry(scope: Scope, principal: Principal | None, status: int) -> AuditEntry:
    client = scope.get("client") or ("", 0)
    query = (scope.get("query_string") or b"").decode("latin-1")
    return AuditEntry(
        at=datetime.now(UTC), principal=principal.who if principal else "unauthenticated",
        token_id=principal.token_id if principal else None, method=scope["method"],
        path=scope["path"] + (f"?{query}" if query else ""), status=status, source=str(client[0]),
    )  # fmt: skip
