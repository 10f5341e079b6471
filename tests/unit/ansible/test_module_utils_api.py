"""module_utils/_api.py against a stdlib HTTP server: auth header, problem+json, retries."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.novacron.cloud.plugins.module_utils._api import AgentClient, AgentError  # noqa: E402
from ansible_collections.novacron.cloud.plugins.module_utils._diff import DifferenceTracker  # noqa: E402
from ansible_collections.novacron.cloud.plugins.module_utils._resource import strip_none  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str | None, bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        Handler.calls.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.path.startswith("/api/v1/vms/missing"):
            self._json(404, {"title": "Not found", "status": 404, "detail": "no VM 'missing'"}, problem=True)
        elif self.path.startswith("/api/v1/vms/bad"):
            self._json(422, {"title": "Invalid input", "status": 422, "detail": "memory_mib: must be >= 16",
                             "field": "memory_mib", "errors": [{"field": "memory_mib", "message": "must be >= 16"}]},
                       problem=True)
        elif self.path.startswith("/api/v1/vms/crash"):
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"<html>oops</html>")
        else:
            self._json(200, {"path": self.path, "echo": json.loads(body) if body else None})

    do_GET = do_PUT = do_DELETE = do_POST = _answer

    def _json(self, status: int, doc: dict, problem: bool = False) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json" if problem else "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server() -> str:
    Handler.calls = []
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_sends_bearer_and_json(server: str) -> None:
    client = AgentClient(server, token="tok")
    answer = client.put_vm({"name": "web-1", "vcpus": 2}, dry_run=True)
    method, path, auth, body = Handler.calls[-1]
    assert (method, auth) == ("PUT", "Bearer tok")
    assert path == "/api/v1/vms/web-1?dry_run=true"
    assert json.loads(body) == {"name": "web-1", "vcpus": 2}
    assert answer["echo"] == {"name": "web-1", "vcpus": 2}


def test_false_flags_are_not_sent(server: str) -> None:
    AgentClient(server).delete_vm("web-1")
    assert Handler.calls[-1][1] == "/api/v1/vms/web-1"


def test_404_get_vm_is_none(server: str) -> None:
    assert AgentClient(server).get_vm("missing") is None


def test_problem_json_names_field(server: str) -> None:
    with pytest.raises(AgentError) as info:
        AgentClient(server).put_vm({"name": "bad"})
    err = info.value
    assert (err.status, err.field) == (422, "memory_mib")
    assert err.message("vm bad") == "vm bad: agent answered 422 Invalid input: memory_mib: must be >= 16"


def test_non_json_error_body(server: str) -> None:
    with pytest.raises(AgentError) as info:
        AgentClient(server).get_vm("crash")
    assert info.value.status == 500


def test_http_errors_are_not_retried(server: str) -> None:
    with pytest.raises(AgentError):
        AgentClient(server, retries=3, retry_delay=0).put_vm({"name": "bad"})
    assert len(Handler.calls) == 1


def test_connection_errors_are_retried_then_fail() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AgentClient(f"http://127.0.0.1:{port}", retries=2, retry_delay=0)
    with pytest.raises(AgentError) as info:
        client.node()
    assert info.value.status == 0
    assert f"cannot reach agent at http://127.0.0.1:{port}" in info.value.message()


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(AgentError, match="set the url option or NOVACRON_URL"):
        AgentClient("")


def test_strip_none_and_difference_tracker() -> None:
    assert strip_none({"a": None, "b": [{"c": None, "d": 1}], "e": {"f": None}}) == {"b": [{"d": 1}], "e": {}}
    diff = DifferenceTracker()
    diff.merge_agent_diff({"before": {"memory_mib": 512}, "after": {"memory_mib": 1024, "vcpus": 2}})
    assert diff.names() == ["memory_mib", "vcpus"]
    assert diff.as_diff() == {"before": {"memory_mib": 512, "vcpus": None}, "after": {"memory_mib": 1024, "vcpus": 2}}
