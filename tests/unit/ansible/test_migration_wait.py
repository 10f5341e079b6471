"""The collection's migration wait behaves as the SDK's, against the same agent answers.

module_utils/_migration.py cannot import novacron_sdk (it runs on managed nodes); its final
phases and wording are generated from the SDK. Here both waits run against one scripted agent:
the same states seen, the same naps, the same result, the same errors word for word.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from novacron_sdk import client as sdk
from novacron_sdk.client import MigrationError, NovacronClient
from tests.unit.sdk.scripted_agent import ScriptedAgent, state

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.novacron.cloud.plugins.module_utils import _migration, _specs  # noqa: E402
from ansible_collections.novacron.cloud.plugins.module_utils._api import AgentClient  # noqa: E402

SCRIPTS = {
    "completes": [state("pending"), state("transferring", progress={"bytes_total": 10, "bytes_sent": 5}),
                  state("switchover"), state("completed")],
    "fails": [state("transferring"), state("failed", error="destination ran out of memory")],
    "is cancelled": [state("preparing"), state("cancelled")],
}


def run(wait: Any, client: Any, deadline: float) -> tuple[list[str], list[float], Any, Any]:
    """(phases seen, naps taken, the result, the error) of one wait."""
    seen: list[str] = []
    naps: list[float] = []

    def progress(m: Any) -> None:
        seen.append(m["phase"] if isinstance(m, dict) else m.phase)

    try:
        return seen, naps, wait(client, "m-1", deadline, progress, sleep=naps.append), None
    except (MigrationError, _migration.MigrationError) as exc:
        return seen, naps, None, exc


def both(states: list[dict[str, Any]], deadline: float) -> tuple[tuple, tuple]:
    with ScriptedAgent(*states) as agent:
        with NovacronClient(agent.url, "t") as c:
            mine = run(NovacronClient.wait_migration, c, deadline)
        first = agent.polls()
        agent.requests.clear()  # the script starts over
        theirs = run(_migration.wait_migration, AgentClient(agent.url, "t"), deadline)
        assert agent.polls() == first  # the same number of polls
    return mine, theirs


def test_the_generated_rule_is_the_sdks() -> None:
    for name in ("MIGRATION_FINAL", "MIGRATION_POLL_S", "MIGRATION_ENDED", "MIGRATION_TIMED_OUT"):
        assert getattr(_specs, name) == getattr(sdk, name), name


@pytest.mark.parametrize("script", SCRIPTS)
def test_both_waits_see_decide_and_word_alike(script: str) -> None:
    (seen, naps, done, err), (seen2, naps2, done2, err2) = both(SCRIPTS[script], time.monotonic() + 60)
    assert seen == seen2 == [s["phase"] for s in SCRIPTS[script]]
    assert naps == naps2 == [0.5] * (len(SCRIPTS[script]) - 1)
    if script == "completes":
        assert err is None and err2 is None and done.model_dump(mode="json") == done2
    else:
        assert done is None and done2 is None
        assert str(err) == str(err2) and "migration m-1 of web-1 from node-a to node-b ended" in str(err)
        assert err.migration.model_dump(mode="json") == err2.migration and not err.timed_out and not err2.timed_out


def test_both_waits_stop_at_the_deadline_with_the_same_words() -> None:
    (seen, naps, _, err), (seen2, naps2, _, err2) = both([state("transferring")], time.monotonic())
    assert seen == seen2 == ["transferring"] and naps == naps2 == []
    assert err.timed_out and err2.timed_out and str(err) == str(err2)
    assert str(err) == "migration m-1 of web-1 from node-a to node-b did not finish in time (last phase: transferring)"
