"""A stdlib HTTP server that answers like an agent about one VM and one migration, from a script.

GET /api/v1/cluster/vms/{vm} names this agent as the owner; POST /api/v1/migrations answers with
the script's first state; each GET /api/v1/migrations/{id} with the next one (the last repeats);
DELETE answers `cancelled`. Real HTTP, so clients over httpx and over Ansible's open_url can be
run against the very same answers.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from novacron_sdk.models.migration import Migration


def state(phase: str, **kw: Any) -> dict[str, Any]:
    """A complete Migration document, as the agent sends it."""
    doc = {"id": "m-1", "vm": "web-1", "source": "node-a", "destination": "node-b", "phase": phase, **kw}
    return Migration.model_validate(doc).model_dump(mode="json")


class ScriptedAgent:
    def __init__(self, *states: dict[str, Any]) -> None:
        self.states = list(states)
        self.requests: list[str] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, doc: Any, status: int = 200) -> None:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                agent.requests.append(f"{self.command} {self.path.split('?')[0]}")
                if self.path.startswith("/api/v1/cluster/vms/"):
                    self._send({"vm": self.path.rsplit("/", 1)[-1], "node": "node-a", "api_url": agent.url})
                elif self.command == "POST":
                    self._send(agent.states[0], 202)
                elif self.command == "DELETE":
                    self._send({**agent.states[-1], "phase": "cancelled"})
                else:
                    polls = sum(r.startswith("GET /api/v1/migrations/") for r in agent.requests)
                    self._send(agent.states[min(polls, len(agent.states)) - 1])

            do_GET = do_POST = do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ScriptedAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def polls(self) -> int:
        return sum(r.startswith("GET /api/v1/migrations/") for r in self.requests)
