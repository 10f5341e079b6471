"""The ownership rule as a state machine, and the restart decision tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from novacron.migration.machine import advance, may_cancel, recover_destination, recover_source
from novacron_sdk.errors import Conflict
from novacron_sdk.models.migration import Migration

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def mig(phase: str = "pending") -> Migration:
    return Migration(id="m1", vm="web", source="a", destination="b", phase=phase)  # type: ignore[arg-type]


def test_phases_only_move_forward_and_terminal_stamps_the_time() -> None:
    m = advance(mig(), "preparing", now=NOW)
    m = advance(m, "transferring", now=NOW)
    assert m.finished_at is None
    done = advance(m, "failed", now=NOW, error="link down")
    assert (done.phase, done.error, done.finished_at) == ("failed", "link down", NOW)
    with pytest.raises(Conflict) as err:
        advance(done, "transferring", now=NOW)
    assert err.value.field == "phase" and "failed" in err.value.detail


def test_after_switchover_the_only_way_is_completed() -> None:
    m = advance(advance(mig("transferring"), "switchover", now=NOW), "completed", now=NOW)
    assert m.phase == "completed"
    for phase in ("failed", "cancelled"):
        with pytest.raises(Conflict):
            advance(mig("switchover"), phase, now=NOW)  # type: ignore[arg-type]
    assert may_cancel(mig("transferring")) and not may_cancel(mig("switchover"))


@pytest.mark.parametrize(
    ("local", "remote", "outcome", "actions"),
    [
        ("running", True, "failed", ("abort_remote",)),  # a running source wins whatever the peer says
        ("running", None, "failed", ("abort_remote",)),
        ("paused", None, None, ()),  # cannot tell whether it moved: wait, never risk two copies
        ("stopped", None, None, ()),
        ("paused", True, "completed", ("adopt_remote", "forget_local")),
        ("missing", True, "completed", ("adopt_remote", "forget_local")),
        ("paused", False, "failed", ("resume_local", "abort_remote")),
        ("stopped", False, "failed", ("start_local", "abort_remote")),
    ],
)
def test_source_recovery_table(local: str, remote: bool | None, outcome: str | None, actions: tuple[str, ...]) -> None:
    r = recover_source(local, remote)  # type: ignore[arg-type]
    assert (r.outcome, r.actions) == (outcome, actions) and r.reason


@pytest.mark.parametrize(
    ("local", "adopted", "outcome", "actions"),
    [
        ("running", False, "completed", ("adopt_local",)),
        ("running", True, "completed", ()),
        ("paused", False, "failed", ("destroy_local",)),
        ("missing", False, "failed", ()),
    ],
)
def test_destination_recovery_table(local: str, adopted: bool, outcome: str, actions: tuple[str, ...]) -> None:
    r = recover_destination(local, adopted)  # type: ignore[arg-type]
    assert (r.outcome, r.actions) == (outcome, actions)
