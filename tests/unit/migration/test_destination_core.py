"""The destination core (migration/destination_core.py) driven by hand: the peer protocol's checks
(docs/security.md), what a refusal leaves, channels, adoption, abort and expiry."""

from __future__ import annotations

from typing import Any

import pytest

from novacron.migration import destination_events as ev
from novacron.migration.destination_core import (
    MAX_PREPARED_PER_SOURCE,
    PREPARE_TTL_S,
    DestinationCore,
    DestinationLimits,
)
from novacron_sdk.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import (
    PeerAbort,
    PeerAborted,
    PeerComplete,
    PeerCompleted,
    PeerPrepare,
    PeerPrepared,
)
from tests.unit.migration.fakes import T0

ME = "b"
SPEC = {"name": "web", "memory_mib": 64, "vcpus": 1}
FREE = ev.VmHere(owner=None, domain="missing")
RUNNING = ev.Adoption(state="running", uuid="6f1b6c4e-2d1a-4c7e-9a51-0d5b5f1e0c11", definition="<domain/>")


def dest(max_concurrency: int = 8) -> DestinationCore:
    return DestinationCore(DestinationLimits(ME, max_concurrency, max_memory_mib=4096, max_vcpus=8))


def mig(mig_id: str = "m1", *, source: str = "a", vm: str = "web", **over: Any) -> Migration:
    return Migration.model_validate({"id": mig_id, "vm": vm, "source": source, "destination": ME, **over})


def ask(mig_id: str = "m1", *, caller: str = "a", dry_run: bool = False, now: float = 0.0, **over: Any
        ) -> ev.PrepareAsked:  # fmt: skip
    body = {"migration": mig(mig_id, vm=over.pop("vm", "web"), source=over.pop("source", "a")).model_dump(),
            "memory_mib": 64, "vcpus": 1, "port": 49152, "dry_run": dry_run, "record": {"spec": SPEC}, **over}  # fmt: skip
    return ev.PrepareAsked(mig_id, PeerPrepare.model_validate(body), caller, now)


def facts(a: ev.PrepareAsked, vm: ev.VmHere = FREE, **over: Any) -> ev.PrepareFacts:
    base = {"known": False, "free_mib": 8192, "port_free": True, "console_log": "/data/vms/web/console.log",
            "libvirt_uri": "qemu:///system"}  # fmt: skip
    return ev.PrepareFacts(a, vm, **{**base, **over})


def step(c: DestinationCore, *events: Any) -> list[Any]:
    out: list[Any] = []
    for e in events:
        out += c.step(e, T0)
    return out


def prepare(c: DestinationCore, a: ev.PrepareAsked, **over: Any) -> list[Any]:
    """A whole prepare conversation, the continuation included."""
    out = step(c, a)
    if out != [ev.GatherPrepareFacts(a)]:
        return out
    out = step(c, facts(a, **over))
    then = [x for x in out if isinstance(x, ev.Then)]
    return out + (step(c, then[0].event) if then else [])


def refused(out: list[Any]) -> Exception:
    assert len(out) == 1 and isinstance(out[0], ev.Refuse), out
    return out[0].error


def test_a_prepare_stores_then_tracks_then_answers() -> None:
    c = dest()
    a = ask()
    assert step(c, a) == [ev.GatherPrepareFacts(a)]
    out = step(c, facts(a))
    assert [type(x).__name__ for x in out] == ["MakeVmDir", "SaveRecord", "KeepVmSpec", "Then"]
    assert out[1].m.phase == "preparing" and c.entries == {}  # tracked only once stored
    out = step(c, out[-1].event)
    assert [type(x).__name__ for x in out] == ["OpenRelay", "BeginBusy", "CountActive", "Answer"]
    assert out[0] == ev.OpenRelay("m1", 49152, "a", small_buffers=False) and out[2] == ev.CountActive(1)
    assert out[3] == ev.Answer(PeerPrepared(node=ME, libvirt_uri="qemu:///system",
                                            console_log="/data/vms/web/console.log"))  # fmt: skip
    assert c.entries["m1"].prepared_at == 0.0 and not c.entries["m1"].connected


CHECKS = [
    # (the request, the facts, the refusal's type and field)
    pytest.param(ask(caller="c"), {}, Forbidden, "migration.source", id="caller-is-not-the-source"),
    pytest.param(ask(source=ME, caller="a"), {}, Forbidden, "migration.source", id="source-named-is-this-node"),
    pytest.param(ev.PrepareAsked("m2", ask().body, "a", 0.0), {}, InvalidInput, "migration.id", id="url-and-body-ids"),
    pytest.param(ev.PrepareAsked("m1", PeerPrepare.model_validate({**ask().body.model_dump(), "migration": {
        **mig().model_dump(), "destination": "c"}}), "a", 0.0), {}, InvalidInput, "migration.destination",
        id="not-this-destination"),  # fmt: skip
    pytest.param(ask(record={"spec": {**SPEC, "name": "other"}}), {}, InvalidInput, "record.spec.name",
                 id="spec-names-another-vm"),
    pytest.param(ev.PrepareAsked("m1", ask().body, "a", 0.0, Unavailable("no TLS", field="dwcp.tls_cert")), {},
                 Unavailable, "dwcp.tls_cert", id="source-unreachable"),
    pytest.param(ask(), {"known": True}, Conflict, "migration.id", id="id-already-known"),
    pytest.param(ask(), {"vm": ev.VmHere(owner=ME, domain="missing")}, Conflict, "vm", id="vm-owned-here"),
    pytest.param(ask(), {"vm": ev.VmHere(owner=None, domain="running")}, Conflict, "vm", id="domain-runs-here"),
    pytest.param(ask(), {"vm": ev.VmHere(owner=None, domain="stopped")}, Conflict, "vm", id="domain-not-ours"),
    pytest.param(ask(), {"vm": ev.VmHere(owner=None, domain="paused", managed_here=True)}, Conflict, "vm",
                 id="managed-but-no-earlier-migration"),
    pytest.param(ask(memory_mib=8192), {}, Conflict, "destination", id="over-max-memory"),
    pytest.param(ask(vcpus=16), {}, Conflict, "destination", id="over-max-vcpus"),
    pytest.param(ask(), {"free_mib": 32}, Conflict, "destination", id="no-free-memory"),
    pytest.param(ask(), {"port_free": False}, Conflict, "port", id="port-taken"),
]  # fmt: skip


@pytest.mark.parametrize(("a", "over", "kind", "field"), CHECKS)
def test_a_refused_prepare_acts_on_nothing(a: ev.PrepareAsked, over: dict[str, Any], kind: type, field: str) -> None:
    c = dest()
    out = prepare(c, a, **over)
    error = refused(out)
    assert isinstance(error, kind) and error.field == field, error  # type: ignore[attr-defined]
    assert c.entries == {}


def test_prepared_migrations_are_bounded_per_source_and_in_all() -> None:
    c = dest(max_concurrency=6)
    for n in range(MAX_PREPARED_PER_SOURCE):
        assert isinstance(prepare(c, ask(f"m{n}", vm=f"vm{n}", record={"spec": {**SPEC, "name": f"vm{n}"}}))[-1],
                          ev.Answer)  # fmt: skip
    error = refused(step(c, ask("m9")))
    assert isinstance(error, Conflict) and error.field == "migration.source"
    assert isinstance(prepare(c, ask("m1"))[-1], ev.Answer)  # prepared again: replaces itself, not a fifth
    for n, source in enumerate(("c", "d")):  # other sources, up to max_concurrency in all
        assert isinstance(prepare(c, ask(f"x{n}", source=source, caller=source))[-1], ev.Answer)
    error = refused(step(c, ask("y", source="e", caller="e")))
    assert isinstance(error, Conflict) and error.field == "migration.destination"
    assert isinstance(step(c, ask("y", source="e", caller="e", dry_run=True))[0], ev.GatherPrepareFacts)


def test_a_dry_run_answers_and_acts_on_nothing_even_with_a_leftover() -> None:
    c = dest()
    leftover = ev.VmHere(owner=None, domain="paused", managed_here=True, earlier_here=("old",))
    out = prepare(c, ask(dry_run=True), vm=leftover, known=True, port_free=False)
    assert out == [ev.Answer(PeerPrepared(node=ME, ok=True))] and c.entries == {}


def test_a_real_prepare_removes_a_leftover_then_looks_again() -> None:
    c = dest()
    a = ask()
    leftover = ev.VmHere(owner=None, domain="paused", managed_here=True, earlier_here=("old",))
    out = step(c, facts(a, vm=leftover))
    assert out == [ev.DestroyLeftover("web"), ev.GatherPrepareFacts(a, looked_again=True)]
    out = step(c, facts(a, looked_again=True))  # gone now
    assert isinstance(out[-1], ev.Then)


def test_a_replaced_prepare_closes_the_old_relay() -> None:
    c = dest()
    prepare(c, ask())
    out = step(c, facts(ask()))
    assert out[0] == ev.CloseRelay("m1") and "m1" not in c.entries


def test_channels_are_taken_only_from_the_source_of_a_prepared_migration() -> None:
    c = dest()
    assert step(c, ev.ChannelArrived("m1", frozenset({"a"}))) == [ev.TurnAway("no incoming migration m1 on b")]
    prepare(c, ask())
    for peers in (frozenset({"c"}), frozenset(), frozenset({"a", "c"})):
        out = step(c, ev.ChannelArrived("m1", peers))
        assert isinstance(out[0], ev.TurnAway) and "comes from a" in out[0].reason
    assert not c.entries["m1"].connected
    assert step(c, ev.ChannelArrived("m1", frozenset({"a"}))) == [ev.TakeChannel("m1")]
    assert c.entries["m1"].connected


def complete(c: DestinationCore, adoption: ev.Adoption, *, caller: str = "a", body: dict[str, Any] | None = None,
             stored: Migration | None = None, stored_record: Any = None) -> list[Any]:  # fmt: skip
    doc = body or {"migration": mig(phase="switchover").model_dump(), "record": {"spec": SPEC}}
    a = ev.CompleteAsked("m1", PeerComplete.model_validate(doc), caller)
    out = step(c, a)
    if not isinstance(out[0], ev.GatherCompletionFacts):
        return out
    return step(c, ev.CompletionFacts(a, stored, stored_record, adoption))


def test_complete_adopts_only_a_domain_that_runs_here() -> None:
    c = dest()
    prepare(c, ask())
    for state in ("paused", "missing", "stopped"):
        error = refused(complete(c, ev.Adoption(state=state)))
        assert isinstance(error, Conflict) and "ownership stays with a" in error.detail
    assert "m1" in c.entries
    out = complete(c, RUNNING)
    assert [type(x).__name__ for x in out] == ["RecordVm", "SaveRecord", "EndBusy", "CloseRelay", "CollectSoon",
                                               "CountActive", "Answer"]  # fmt: skip
    assert out[1].m.phase == "completed" and out[1].m.finished_at == T0
    assert out[-1] == ev.Answer(PeerCompleted(node=ME, uuid=RUNNING.uuid)) and c.entries == {}


def test_complete_of_an_adopted_vm_records_nothing_again() -> None:
    c = dest()
    adopted = ev.Adoption(state="running", uuid="x", owner=ME, owner_uuid=RUNNING.uuid)
    out = complete(c, adopted, stored=mig(phase="completed"))
    assert not [x for x in out if isinstance(x, ev.RecordVm)]
    assert out[-1] == ev.Answer(PeerCompleted(node=ME, uuid=RUNNING.uuid))


@pytest.mark.parametrize(("caller", "body", "stored", "kind", "field"), [
    ("a", None, None, NotFound, "migration.id"),
    ("c", None, mig(), Forbidden, "migration.source"),
    ("a", {"migration": mig("m2").model_dump()}, mig(), InvalidInput, "migration.id"),
    ("a", {"migration": mig(vm="other").model_dump()}, mig(), InvalidInput, "migration"),
    ("a", {"migration": mig().model_dump(), "record": {"spec": {**SPEC, "name": "other"}}}, mig(), InvalidInput,
     "record.spec.name"),
    ("a", {"migration": mig().model_dump()}, mig(), InvalidInput, "record.spec"),  # nothing to record it from
    ("a", None, Migration(id="m1", vm="web", source="a", destination="c"), NotFound, "migration.id"),
])  # fmt: skip
def test_complete_is_refused(caller: str, body: Any, stored: Migration | None, kind: type, field: str) -> None:
    error = refused(complete(dest(), RUNNING, caller=caller, body=body, stored=stored))
    assert isinstance(error, kind) and error.field == field  # type: ignore[attr-defined]


def abort(c: DestinationCore, *, caller: str = "a", stored: Migration | None = None, owned: bool = False,
          phase: str = "cancelled") -> list[Any]:  # fmt: skip
    a = ev.AbortAsked("m1", PeerAbort(phase=phase, error="cancelled by request"), caller)  # type: ignore[arg-type]
    out = step(c, a)
    assert out == [ev.GatherAbortFacts(a, stored_needed="m1" not in c.entries)]
    return step(c, ev.AbortFacts(a, stored, owned))


def test_abort_drops_the_copy_and_closes_the_record() -> None:
    c = dest()
    prepare(c, ask())
    error = refused(abort(c, caller="c"))
    assert isinstance(error, Forbidden) and "m1" in c.entries
    out = abort(c)
    assert [type(x).__name__ for x in out] == ["EndBusy", "CloseRelay", "CollectSoon", "CountActive",
                                               "RemoveIncomingCopy", "CloseRecord", "AnswerRemoved"]  # fmt: skip
    closed = out[-2].m
    assert (closed.phase, closed.error, closed.finished_at) == ("cancelled", "cancelled by request", T0)
    assert c.entries == {}


def test_abort_never_removes_a_copy_this_node_owns_and_unknown_ids_are_not_errors() -> None:
    out = abort(dest(), stored=mig(phase="completed"), owned=True)
    assert not [x for x in out if isinstance(x, ev.RemoveIncomingCopy)]
    assert abort(dest()) == [ev.Answer(PeerAborted(node=ME, removed=False))]


def test_expiry() -> None:
    c = dest()
    prepare(c, ask("fresh", vm="v1", record={"spec": {**SPEC, "name": "v1"}}, now=100.0))
    prepare(c, ask("silent", vm="v2", record={"spec": {**SPEC, "name": "v2"}}))
    prepare(c, ask("slow", vm="v3", record={"spec": {**SPEC, "name": "v3"}}))
    prepare(c, ask("done-here", vm="v4", record={"spec": {**SPEC, "name": "v4"}}))
    for mig_id in ("slow", "done-here"):
        step(c, ev.ChannelArrived(mig_id, frozenset({"a"})))
    assert step(c, ev.Sweep(PREPARE_TTL_S)) == []  # nothing is old yet
    checks = step(c, ev.Sweep(PREPARE_TTL_S + 1))
    assert [x.mig_id for x in checks] == ["silent"] and not checks[0].unless_running
    out = step(c, ev.SweepFacts(checks[0], running=False, owned_here=False))
    assert out[0].level == "warning" and "did not connect within 60 s" in out[0].text
    assert out[-1] == ev.Expired("silent") and "silent" not in c.entries
    checks = step(c, ev.Sweep(600 + 61))  # past the timeout (600 s) and its grace
    assert sorted(x.mig_id for x in checks) == ["done-here", "fresh", "slow"]
    by_id = {x.mig_id: x for x in checks}
    assert step(c, ev.SweepFacts(by_id["done-here"], running=True, owned_here=False)) == []  # switched over
    out = step(c, ev.SweepFacts(by_id["slow"], running=False, owned_here=False))
    assert out[-1] == ev.Expired("slow") and "not finished within its timeout" in out[-2].m.error
    assert sorted(c.entries) == ["done-here", "fresh"]
    step(c, ev.AbortAsked("fresh", PeerAbort(), "a"))
    assert step(c, ev.SweepFacts(by_id["fresh"], running=False, owned_here=False)) != []
    assert step(c, ev.SweepFacts(by_id["fresh"], running=False, owned_here=False)) == []  # gone meanwhile
