"""`locate_in_cluster`: the one way faces find a VM among agents that may not be peers of each other."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from novacron_sdk.client import ApiError, NovacronClient, locate_in_cluster

Answer = Callable[[httpx.Request], httpx.Response]


def problem(status: int, detail: str, field: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"title": "x", "status": status, "detail": detail, "field": field})


def found_on(node: str, url: str) -> Answer:
    return lambda req: httpx.Response(200, json={"vm": "web-1", "node": node, "api_url": url})


NOT_HERE = lambda req: problem(404, "no VM named 'web-1' on a or any of its peers", "vm")  # noqa: E731


def unreachable(req: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=req)


def agents(*answers: Answer, vms: dict[str, dict] | None = None) -> tuple[list[NovacronClient], list[str]]:
    """Clients of fake agents: each answers the cluster lookup with its `answer` and GET /vms from `vms`."""
    asked: list[str] = []
    clients = []
    for i, answer in enumerate(answers):
        url = f"http://agent-{i}"

        def handle(req: httpx.Request, answer: Answer = answer, url: str = url) -> httpx.Response:
            asked.append(f"{url}{req.url.path}")
            if req.url.path.startswith("/api/v1/cluster/vms/"):
                return answer(req)
            vm = (vms or {}).get(url)
            return httpx.Response(200, json=vm) if vm else problem(404, "no such VM", "name")

        clients.append(NovacronClient(url, "t", transport=httpx.MockTransport(handle)))
    return clients, asked


def test_the_first_agent_that_can_tell_answers_and_the_rest_are_not_asked() -> None:
    clients, asked = agents(found_on("node-2", "http://n2"), NOT_HERE)
    assert locate_in_cluster(clients, "web-1") == (0, {"vm": "web-1", "node": "node-2", "api_url": "http://n2"})
    assert asked == ["http://agent-0/api/v1/cluster/vms/web-1"]


def test_agents_that_are_not_peers_are_each_asked_until_one_knows() -> None:
    clients, asked = agents(NOT_HERE, NOT_HERE, found_on("node-3", "http://agent-2"))
    assert locate_in_cluster(clients, "web-1") == (2, {"vm": "web-1", "node": "node-3", "api_url": "http://agent-2"})
    assert len(asked) == 3


def test_not_found_only_when_every_agent_answered() -> None:
    clients, _ = agents(NOT_HERE, NOT_HERE)
    assert locate_in_cluster(clients, "web-1") is None
    clients, _ = agents(unreachable, NOT_HERE)
    with pytest.raises(ApiError) as err:
        locate_in_cluster(clients, "web-1")
    assert err.value.status == 0 and "http://agent-0 (" in err.value.detail and "agent-1" not in err.value.detail


def test_a_found_vm_wins_over_an_agent_that_did_not_answer() -> None:
    clients, _ = agents(unreachable, lambda req: problem(502, "bad gateway"), found_on("node-3", "http://x"))
    assert locate_in_cluster(clients, "web-1") == (2, {"vm": "web-1", "node": "node-3", "api_url": "http://x"})


def test_an_agent_without_the_lookup_is_asked_for_the_vm_itself() -> None:
    vm = {"name": "web-1", "status": {"node": "old-node"}}
    no_route = lambda req: problem(404, "Not Found")  # noqa: E731  the router's answer: no such path
    clients, asked = agents(no_route, no_route, vms={"http://agent-1": vm})
    assert locate_in_cluster(clients, "web-1") == (1, {"vm": "web-1", "node": "old-node", "api_url": "http://agent-1"})
    assert asked == ["http://agent-0/api/v1/cluster/vms/web-1", "http://agent-0/api/v1/vms/web-1",
                     "http://agent-1/api/v1/cluster/vms/web-1", "http://agent-1/api/v1/vms/web-1"]


def test_a_refused_token_is_an_error_at_once() -> None:
    clients, asked = agents(lambda req: problem(401, "token expired"), found_on("node-2", "http://n2"))
    with pytest.raises(ApiError) as err:
        locate_in_cluster(clients, "web-1")
    assert err.value.status == 401 and len(asked) == 1
