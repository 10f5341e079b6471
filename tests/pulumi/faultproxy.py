"""An HTTP proxy in front of a real agent that loses chosen answers, to test partial failures.

`drop("PUT", "/api/v1/vms/")` makes the next matching request reach the agent (so the change
happens) while the caller's connection is closed without an answer, as when a network drops
mid-request. `refuse("POST", "/api/v1/migrations", 404)` answers matching requests itself, as an
agent without that route would. Everything else is forwarded untouched.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._drops: list[tuple[str, str]] = []
        self._refusals: dict[tuple[str, str], int] = {}
        self.dropped: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = proxy._refusal(self.command, self.path)
                if status:
                    doc = json.dumps({"title": HTTPStatus(status).phrase, "status": status,
                                      "detail": HTTPStatus(status).phrase}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(doc)))
                    self.end_headers()
                    self.wfile.write(doc)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                resp = httpx.request(self.command, proxy.upstream + self.path, headers=headers, content=body,
                                     timeout=120)
                if proxy._take(self.command, self.path):
                    self.close_connection = True  # the agent acted; the caller never hears about it
                    return
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_PUT = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def drop(self, method: str, path_prefix: str) -> None:
        with self._lock:
            self._drops.append((method, path_prefix))

    def refuse(self, method: str, path_prefix: str, status: int) -> None:
        with self._lock:
            self._refusals[(method, path_prefix)] = status

    def _refusal(self, method: str, path: str) -> int:
        with self._lock:
            return next((s for (m, p), s in self._refusals.items() if m == method and path.startswith(p)), 0)

    def _take(self, method: str, path: str) -> bool:
        with self._lock:
            for i, (m, prefix) in enumerate(self._drops):
                if m == method and path.startswith(prefix):
                    del self._drops[i]
                    self.dropped.append(f"{method} {path}")
                    return True
        return False

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
