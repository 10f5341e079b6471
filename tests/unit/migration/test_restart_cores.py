"""An agent restarted at every point of a migration: each half's core, started from the record it
had stored, decides from what libvirt (and, for the source, the destination) says now
(machine.recover_source / recover_destination). The VM must end up running once, and owned by
the node that runs it."""

from __future__ import annotations

from typing import Any

import pytest

from novacron.migration import destination_events as dev
from novacron.migration import source_events as sev
from novacron.migration.destination_core import DestinationCore, DestinationLimits
from novacron.migration.source_core import SourceCore
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import VmTransfer
from tests.unit.migration.fakes import T0


def record(phase: str) -> Migration:
    return Migration.model_validate({"id": "m1", "vm": "web", "source": "a", "destination": "b", "phase": phase})


def kinds(actions: list[Any]) -> list[str]:
    return [type(a).__name__ for a in actions]


def source_restart(phase: str, local: str, remote: bool | None, adopt_answers: tuple[bool, ...] = (True,)
                   ) -> tuple[SourceCore, list[Any]]:  # fmt: skip
    """Drive a restarted source core to its end (or to 'ask again later'), answering its requests."""
    c = SourceCore.restarted(record(phase))
    out = c.step(sev.RestartFacts(local, remote), T0)  # type: ignore[arg-type]
    answers = list(adopt_answers)
    trail = list(out)
    while out and not isinstance(out[-1], sev.Finish | sev.AskAgainLater):
        last = out[-1]
        if isinstance(last, sev.CompleteOnDestination):
            ok = answers.pop(0)
            out = c.step(sev.AdoptAnswered(ok, "" if ok else "b: not running"), T0)
        elif isinstance(last, sev.ForgetSource):
            out = c.step(sev.SourceForgotten(), T0)
        else:
            raise AssertionError(f"unexpected {last!r}")
        trail += out
    return c, trail


SOURCE_CRASHES = [
    # (crash point, stored phase, source's domain now, destination runs it?, outcome, actions)
    ("request stored, before the prepare", "preparing", "running", False, "failed", ["AbortDestination"]),
    ("prepare sent, destination unreachable", "preparing", "running", None, "failed", ["AbortDestination"]),
    ("libvirt migrating", "transferring", "running", False, "failed", ["AbortDestination"]),
    ("libvirt paused the source for the last pass", "transferring", "paused", False, "failed",
     ["ResumeSource", "AbortDestination"]),
    ("the VM died meanwhile", "transferring", "stopped", False, "failed", ["StartSource", "AbortDestination"]),
    ("libvirt returned, switch-over not stored", "transferring", "stopped", True, "completed",
     ["CompleteOnDestination", "ForgetSource"]),
    ("switch-over stored, destination not told", "switchover", "stopped", True, "completed",
     ["CompleteOnDestination", "ForgetSource"]),
    ("destination adopted, source not forgotten", "switchover", "paused", True, "completed",
     ["CompleteOnDestination", "ForgetSource"]),
    ("source forgotten, completion not stored", "switchover", "missing", True, "completed",
     ["CompleteOnDestination", "ForgetSource"]),
    ("neither side has it", "transferring", "missing", False, "failed", ["AbortDestination"]),
]  # fmt: skip


@pytest.mark.parametrize(("point", "phase", "local", "remote", "outcome", "actions"), SOURCE_CRASHES,
                         ids=[row[0] for row in SOURCE_CRASHES])  # fmt: skip
def test_source_restarted(point: str, phase: str, local: str, remote: bool | None, outcome: str,
                          actions: list[str]) -> None:  # fmt: skip
    c, trail = source_restart(phase, local, remote)
    acting = [k for k in kinds(trail) if k not in ("CloseRecord", "Log", "Finish")]
    assert acting == actions
    closed = [a.m for a in trail if isinstance(a, sev.CloseRecord)]
    assert len(closed) == 1 and closed[0].phase == outcome and closed[0].finished_at == T0
    assert (closed[0].error is None) == (outcome == "completed")
    assert outcome == "completed" or "agent restarted mid-migration" in (closed[0].error or "")
    assert trail[-1] == sev.Finish(False) and c.finished
    resumes = [a for a in trail if isinstance(a, sev.ResumeSource)]
    assert all(not r.best_effort for r in resumes)  # a failure to resume is retried, not ignored


@pytest.mark.parametrize("local", ["paused", "stopped", "missing"])
def test_a_source_that_cannot_ask_the_destination_waits_rather_than_risk_two_copies(local: str) -> None:
    c, trail = source_restart("transferring", local, None)
    assert kinds(trail) == ["Log", "AskAgainLater"] and not c.finished
    c.step(sev.RestartFacts(local, True), T0)  # type: ignore[arg-type]  # asked again: it answers now
    assert not c.finished  # adopting, then forgetting


def test_a_restarted_source_asks_again_when_adopting_or_a_step_fails() -> None:
    c, trail = source_restart("switchover", "stopped", True, adopt_answers=(False,))
    assert kinds(trail)[-2:] == ["Log", "AskAgainLater"] and not c.finished
    c = SourceCore.restarted(record("transferring"))
    c.step(sev.RestartFacts("paused", False), T0)
    assert kinds(c.step(sev.StepFailed("libvirt: cannot resume"), T0)) == ["Log", "AskAgainLater"]


def dest_restart(local: str, owned: bool, adoption: dev.Adoption | None = None, spec: bool = True) -> list[Any]:
    c = DestinationCore(DestinationLimits("b", 8, 4096, 8))
    m = record("preparing")
    out = c.step(dev.Restarted(m, local, owned), T0)  # type: ignore[arg-type]
    if out and isinstance(out[0], dev.GatherAdoption):
        transfer = VmTransfer.model_validate({"spec": {"name": "web"}}) if spec else None
        adoption = adoption or dev.Adoption(state=local, uuid="u", definition="<domain/>")
        out = out + c.step(dev.RestartAdoption(m, out[0].decision, transfer, adoption), T0)
    return out


DESTINATION_CRASHES = [
    # (crash point, its domain now, owned here?, outcome, actions)
    ("prepared, the source never connected", "missing", False, "failed", []),
    ("receiving (the incoming copy is paused)", "paused", False, "failed", ["RemoveIncomingCopy"]),
    ("libvirt finished, not adopted", "running", False, "completed", ["GatherAdoption", "RecordVm", "SaveRecord"]),
    ("adopted, record not closed", "running", True, "completed", []),
    ("an odd state", "other", False, "failed", ["RemoveIncomingCopy"]),
]  # fmt: skip


@pytest.mark.parametrize(("point", "local", "owned", "outcome", "actions"), DESTINATION_CRASHES,
                         ids=[row[0] for row in DESTINATION_CRASHES])  # fmt: skip
def test_destination_restarted(point: str, local: str, owned: bool, outcome: str, actions: list[str]) -> None:
    out = dest_restart(local, owned)
    assert [k for k in kinds(out) if k not in ("CloseRecord", "Log")] == actions
    closed = [a.m for a in out if isinstance(a, dev.CloseRecord)]
    assert len(closed) == 1 and closed[0].phase == outcome
    if "SaveRecord" in actions:  # adopting saves the record completed, so closing it changes nothing
        assert kinds(out).index("SaveRecord") < kinds(out).index("CloseRecord")


def test_a_restarted_destination_adopts_only_what_it_can() -> None:
    out = dest_restart("running", False, spec=False)  # no spec was stored with the prepare
    assert kinds(out)[-1] == "Refuse" and isinstance(out[-1].error, InvalidInput)
    out = dest_restart("running", False, adoption=dev.Adoption(state="paused"))  # no longer running
    assert kinds(out)[-1] == "Refuse" and "ownership stays with a" in out[-1].error.detail
