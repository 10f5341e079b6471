"""`NovacronClient.wait_migration`: one waiting rule for every face (final phases, deadline, wording)."""

from __future__ import annotations

import time
import typing
from typing import Any

import httpx
import pytest

from novacron_sdk.client import MIGRATION_FINAL, MigrationError, NovacronClient
from novacron_sdk.models.migration import Migration, MigrationPhase


def migration(phase: str, **kw: Any) -> dict[str, Any]:
    return {"id": "m-1", "vm": "web-1", "source": "node-a", "destination": "node-b", "phase": phase, **kw}


def agent(*states: dict[str, Any]) -> tuple[NovacronClient, list[str]]:
    """A client of a fake agent that answers successive polls with `states` (the last one repeats)."""
    polls: list[str] = []

    def handle(req: httpx.Request) -> httpx.Response:
        polls.append(req.url.path)
        return httpx.Response(200, json=states[min(len(polls), len(states)) - 1])

    return NovacronClient("http://agent", "t", transport=httpx.MockTransport(handle)), polls


class Stop(Exception):
    pass


def test_final_phases_are_the_models_last_three() -> None:
    assert MIGRATION_FINAL == typing.get_args(MigrationPhase)[-3:] == ("completed", "failed", "cancelled")


def test_polls_until_completed_reporting_each_state() -> None:
    client, polls = agent(migration("pending"), migration("transferring"), migration("completed"))
    seen: list[str] = []
    naps: list[float] = []
    done = client.wait_migration("m-1", time.monotonic() + 60, lambda m: seen.append(m.phase), sleep=naps.append)
    assert done.phase == "completed" and seen == ["pending", "transferring", "completed"]
    assert polls == ["/api/v1/migrations/m-1"] * 3 and len(naps) == 2 and all(0 < n <= 0.5 for n in naps)


@pytest.mark.parametrize(("phase", "error", "reason"), [("failed", "destination refused", "destination refused"),
                                                        ("cancelled", None, "no reason given")])
def test_a_migration_that_ends_otherwise_is_an_error_naming_it(phase: str, error: str | None, reason: str) -> None:
    client, _ = agent(migration("transferring"), migration(phase, error=error))
    with pytest.raises(MigrationError) as err:
        client.wait_migration("m-1", time.monotonic() + 60, sleep=lambda s: None)
    assert str(err.value) == f"migration m-1 of web-1 from node-a to node-b ended {phase}: {reason}"
    assert err.value.migration.phase == phase and not err.value.timed_out


def test_at_the_deadline_the_error_names_the_last_phase_and_the_migration_is_left_alone() -> None:
    client, polls = agent(migration("switchover"))
    with pytest.raises(MigrationError) as err:
        client.wait_migration("m-1", time.monotonic(), sleep=lambda s: None)
    assert str(err.value) == "migration m-1 of web-1 from node-a to node-b did not finish in time (last phase: switchover)"
    assert err.value.timed_out and polls == ["/api/v1/migrations/m-1"]  # no DELETE: cancelling is the caller's call


def test_no_nap_reaches_past_the_deadline() -> None:
    client, _ = agent(migration("transferring"))
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        raise Stop

    with pytest.raises(Stop):
        client.wait_migration("m-1", time.monotonic() + 5, sleep=nap, poll_s=60)
    assert 0 < naps[0] <= 5


def test_on_progress_may_stop_the_wait() -> None:
    client, polls = agent(migration("transferring"))

    def interrupted(m: Migration) -> None:
        raise Stop(m.phase)

    with pytest.raises(Stop, match="transferring"):
        client.wait_migration("m-1", time.monotonic() + 60, interrupted, sleep=lambda s: None)
    assert len(polls) == 1
