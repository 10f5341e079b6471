"""ASGI middleware that must run before any handler: body size limit and bearer-token auth.

Auth is middleware, not a FastAPI dependency, because FastAPI parses the body before it runs
dependencies: an unauthenticated caller must get 401, not a 422 about its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from novacron.api.problems import PROBLEM_JSON

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
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


class BearerAuthMiddleware:
    """Every request under `prefix` needs a valid bearer JWT; `verify(token)` raises on refusal.

    The verified claims are put in `scope["state"]["claims"]` for handlers that want the subject.
    """

    def __init__(self, app: ASGIApp, verify: Callable[[str], Any], prefix: str = "/api/") -> None:
        self.app, self.verify, self.prefix = app, verify, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
        if header is None:
            await _send_problem(send, 401, "Unauthorized", "missing token")
            return
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _send_problem(send, 401, "Unauthorized", "expected 'Authorization: Bearer <token>'")
            return
        try:
            claims = self.verify(token.strip())
        except Exception as exc:  # AuthError carries a safe reason; anything else is a refusal too
            reason = getattr(exc, "reason", None) or "invalid token"
            await _send_problem(send, 401, "Unauthorized", str(reason))
            return
        scope.setdefault("state", {})["claims"] = claims
        await self.app(scope, receive, send)
