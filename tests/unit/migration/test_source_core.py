"""The source core (migration/source_core.py) driven by hand: every refusal, failure and cancel,
and what each leaves. No libvirt, socket, clock or store: events in, actions out."""

from __future__ import annotations

from typing import Any

import pytest

from novacron.migration import source_events as ev
from novacron.migration.plan import SourcePlan
from novacron.migration.progress import TunnelStats
from novacron.migration.source_core import ADOPT_RETRY_S, PORT_TRIES, SourceCore, Stage
from novacron_sdk.errors import Conflict, Unavailable
from novacron_sdk.models.migration import Migration, MigrationOptions
from tests.unit.migration.fakes import T0

SHARE_MS = 150


def core(**options: Any) -> SourceCore:
    m = Migration(id="m1", vm="web", source="a", destination="b", created_at=T0, options=MigrationOptions(**options))
    return SourceCore(m, SourcePlan(timeout_s=m.options.timeout_s, share_ms=SHARE_MS))


def kinds(actions: list[Any]) -> list[str]:
    return [type(a).__name__ for a in actions]


def of(actions: list[Any], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def step(c: SourceCore, *events: Any) -> list[Any]:
    out: list[Any] = []
    for e in events:
        out += c.step(e, T0)
    return out


def prepared(c: SourceCore) -> list[Any]:
    return step(c, ev.Requested(), ev.CarrierOpened(5000), ev.DestinationPrepared("qemu:///b"))


def transferring(c: SourceCore) -> list[Any]:
    return prepared(c) + step(c, ev.LibvirtReady(), ev.LibvirtStarted(0.0))


def saved_phases(actions: list[Any]) -> list[str]:
    return [a.m.phase for a in of(actions, ev.SavePhase)]


def test_a_migration_from_the_request_to_the_hand_over() -> None:
    c = core()
    assert kinds(step(c, ev.Requested())) == ["SavePhase", "FindDomain", "OpenCarrier"]
    assert step(c, ev.CarrierOpened(5000)) == [ev.PrepareDestination(5000)]
    out = step(c, ev.DestinationPrepared("qemu:///b", "/var/log/web.log"))
    assert out[:3] == [ev.Answer(True), ev.Prewarm(1), ev.FollowMode()]
    assert out[3] == ev.SetUpLibvirt("qemu:///b", "/var/log/web.log")
    out = step(c, ev.LibvirtReady())
    assert out == [ev.SetDowntimeLimit(SHARE_MS), ev.SavePhase(c.m), ev.StartLibvirtMigration()]
    assert c.m.phase == "transferring" and step(c, ev.LibvirtStarted(0.0)) == []
    assert step(c, ev.Tick(0.1)) == [] and step(c, ev.Tick(0.5)) == [ev.SampleJob()]  # polls every 0.5 s
    out = step(c, ev.JobStats(1.0, {"memory_total": 1 << 30, "memory_bps": 1e8}, TunnelStats(1 << 20, 1 << 19, 1)))
    assert kinds(out) == ["RecordSample", "TuneCarrier", "SavePhase", "Log"] and c.m.progress.bytes_total == 1 << 30
    out = step(c, ev.LibvirtReturned())
    assert out == [ev.HandOver(), ev.ReadTotals(completed=True)] and c.m.phase == "switchover"
    out = step(c, ev.Totals(TunnelStats(2 << 20, 1 << 20, 1), {"downtime": 40, "time_elapsed": 900}))
    # the switch-over is stored before the destination is told
    assert kinds(out) == ["Log", "SavePhase", "CompleteOnDestination"] and saved_phases(out) == ["switchover"]
    assert out[2].m.progress.downtime_ms == 40 and out[2].after_s == 0
    assert step(c, ev.AdoptAnswered(True)) == [ev.ForgetSource()]  # forgotten only once adopted
    out = step(c, ev.SourceForgotten())
    assert kinds(out) == ["SavePhase", "Log", "Finish"] and saved_phases(out) == ["completed"]
    assert c.finished and c.m.finished_at == T0 and out[-1] == ev.Finish(True)


REFUSALS = [
    # (what the destination answered, the destination told to abort?)
    pytest.param(ev.DestinationRefused("b lacks capacity", 409, "destination"), False, id="409-capacity"),
    pytest.param(ev.DestinationRefused("bad spec", 422, "record.spec.name"), False, id="422"),
    pytest.param(ev.DestinationRefused("a may not prepare", 403, "migration.source"), False, id="403"),
    pytest.param(ev.DestinationRefused("b is busy", 503), True, id="503"),
    pytest.param(ev.DestinationRefused("b answered garbage", 502), True, id="502"),
    pytest.param(ev.DestinationRefused("peer b is unreachable: ReadTimeout"), True, id="timeout"),
]


@pytest.mark.parametrize(("refusal", "abort"), REFUSALS)
def test_a_refused_request_leaves_no_record_at_either_end(refusal: ev.DestinationRefused, abort: bool) -> None:
    c = core()
    step(c, ev.Requested(), ev.CarrierOpened(5000))
    out = step(c, refusal)
    aborts = of(out, ev.AbortDestination)
    assert bool(aborts) == abort  # a 4xx destination kept nothing; after anything else it may have prepared
    if abort:
        assert aborts[0].timeout_s == 5 and aborts[0].reason.startswith("the source gave up before the transfer")
    assert kinds(out)[-4:] == ["DeleteRecord", "CloseCarrier", "Answer", "Finish"]
    assert out[-2] == ev.Answer(False, refusal.reason, refusal.cause) and saved_phases(out) == []
    assert c.finished and not c.answered


def test_a_taken_port_is_retried_with_a_fresh_carrier_then_refused() -> None:
    c = core()
    step(c, ev.Requested(), ev.CarrierOpened(5000))
    port_taken = ev.DestinationRefused("port 5000 is in use", 409, "port")
    for n in range(PORT_TRIES - 1):
        assert step(c, port_taken) == [ev.CloseCarrier(), ev.OpenCarrier()]
        assert step(c, ev.CarrierOpened(5001 + n)) == [ev.PrepareDestination(5001 + n)]
    out = step(c, port_taken)
    assert not of(out, ev.AbortDestination) and of(out, ev.DeleteRecord) and c.finished


@pytest.mark.parametrize(("after", "abort"), [([], False), ([ev.CarrierOpened(5000)], True)],
                         ids=["before-the-prepare", "after-the-prepare"])  # fmt: skip
def test_a_local_failure_before_the_answer_is_a_refusal(after: list[Any], abort: bool) -> None:
    c = core()
    step(c, ev.Requested(), *after)
    out = step(c, ev.StepFailed("libvirt: Domain not found"))
    assert bool(of(out, ev.AbortDestination)) == abort and of(out, ev.DeleteRecord)
    assert of(out, ev.Answer) == [ev.Answer(False, "libvirt: Domain not found", None)]


def rolled_back(out: list[Any], phase: str, reason: str) -> None:
    assert kinds(out)[-3:] == ["ResumeSource", "AbortDestination", "ReadTotals"]
    abort = of(out, ev.AbortDestination)[0]
    assert (abort.phase, abort.reason, abort.timeout_s) == (phase, reason, 10)


@pytest.mark.parametrize(("failure", "reason"), [
    (ev.LibvirtFailed("internal error: qemu unexpectedly closed the monitor"),
     "libvirt: internal error: qemu unexpectedly closed the monitor"),
    (ev.StepFailed("libvirt: cannot read the definition"), "libvirt: cannot read the definition"),
])  # fmt: skip
def test_a_failure_before_the_switch_over_rolls_back(failure: Any, reason: str) -> None:
    c = core()
    if isinstance(failure, ev.LibvirtFailed):
        transferring(c)
    else:
        prepared(c)  # setting libvirt up
    out = step(c, failure)
    rolled_back(out, "failed", reason)
    out = step(c, ev.Totals(TunnelStats(3 << 20, 1 << 20, 1)))
    assert kinds(out) == ["SavePhase", "Finish"] and saved_phases(out) == ["failed"]
    assert (c.m.error, c.m.progress.eta_s, c.m.progress.bytes_sent) == (reason, None, 3 << 20)


def test_libvirt_failing_after_the_destination_started_it_is_a_switch_over() -> None:
    c = core()
    transferring(c)
    out = step(c, ev.LibvirtFailed("confirm step failed", destination_runs=True))
    assert out == [ev.HandOver(), ev.ReadTotals(completed=True)] and c.m.phase == "switchover"
    assert not of(out, ev.ResumeSource) and not of(out, ev.AbortDestination)


def test_a_tunnel_failure_mid_transfer_aborts_libvirts_job_and_rolls_back() -> None:
    c = core()
    prepared(c)
    assert step(c, ev.TunnelFailed("early: ignored, nothing runs")) == []
    step(c, ev.LibvirtReady(), ev.LibvirtStarted(0.0))
    assert step(c, ev.TunnelFailed("pipe 0: Connection reset")) == [ev.AbortJob()]
    assert step(c, ev.TunnelFailed("pipe 1: Connection reset")) == [ev.AbortJob()]  # the first reason wins
    out = step(c, ev.LibvirtFailed("operation aborted"))
    rolled_back(out, "failed", "DWCP tunnel failed: pipe 0: Connection reset")


CANCELS = [
    # (events before the cancel, what the cancel does at once, events after, rolled back as cancelled?)
    pytest.param([ev.Requested(), ev.CarrierOpened(5000)], [], [ev.DestinationPrepared("qemu:///b")], True,
                 id="while-preparing"),
    pytest.param([ev.Requested(), ev.CarrierOpened(5000), ev.DestinationPrepared("qemu:///b")], [],
                 [ev.LibvirtReady()], True, id="while-setting-up"),
    pytest.param([ev.Requested(), ev.CarrierOpened(5000), ev.DestinationPrepared("qemu:///b"), ev.LibvirtReady()],
                 [], [ev.LibvirtStarted(0.0), ev.LibvirtFailed("aborted")], True, id="before-libvirts-job"),
    pytest.param([ev.Requested(), ev.CarrierOpened(5000), ev.DestinationPrepared("qemu:///b"), ev.LibvirtReady(),
                  ev.LibvirtStarted(0.0)], [ev.AbortJob()], [ev.LibvirtFailed("aborted")], True, id="while-transferring"),
]  # fmt: skip


@pytest.mark.parametrize(("before", "at_once", "after", "_"), CANCELS)
def test_cancel_before_the_switch_over_rolls_back(before: list[Any], at_once: list[Any], after: list[Any], _: bool
                                                  ) -> None:  # fmt: skip
    c = core()
    step(c, *before)
    assert step(c, ev.CancelRequested()) == at_once
    out = step(c, *after)
    if isinstance(after[0], ev.LibvirtStarted):
        assert of(out, ev.AbortJob)  # asked again once libvirt's job exists
    rolled_back(out, "cancelled", "cancelled by request")
    step(c, ev.Totals(TunnelStats()))
    assert (c.m.phase, c.m.error) == ("cancelled", "cancelled by request")


@pytest.mark.parametrize("after_adopt", [False, True], ids=["switchover", "completed"])
def test_cancel_after_the_switch_over_is_refused(after_adopt: bool) -> None:
    c = core()
    transferring(c)
    step(c, ev.LibvirtReturned(), ev.Totals(TunnelStats()))
    if after_adopt:
        step(c, ev.AdoptAnswered(True), ev.SourceForgotten())
    out = step(c, ev.CancelRequested())
    assert kinds(out) == ["CancelRefused"] and isinstance(out[0].error, Conflict)
    assert "already runs on b" in out[0].error.detail and c.m.phase in ("switchover", "completed")


def test_adopting_is_retried_every_two_seconds_and_never_rolled_back() -> None:
    c = core()
    transferring(c)
    step(c, ev.LibvirtReturned(), ev.Totals(TunnelStats()))
    for _ in range(5):
        out = step(c, ev.AdoptAnswered(False, "b: 'web' is paused on b, not running"))
        assert kinds(out) == ["Log", "CompleteOnDestination"] and out[1].after_s == ADOPT_RETRY_S
        assert c.m.phase == "switchover"
    assert step(c, ev.AdoptAnswered(True)) == [ev.ForgetSource()]
    out = step(c, ev.SourceForgotten())
    assert saved_phases(out) == ["completed"]


@pytest.mark.parametrize("stage", ["saving-the-switch-over", "forgetting"])
def test_a_failure_after_the_switch_over_is_recorded_not_rolled_back(stage: str) -> None:
    c = core()
    transferring(c)
    step(c, ev.LibvirtReturned(), ev.Totals(TunnelStats()))
    if stage == "forgetting":
        step(c, ev.AdoptAnswered(True))
    out = step(c, ev.StepFailed("refusing to remove 'web': it runs on the source"))
    assert kinds(out) == ["Log", "SavePhase", "Finish"] and not of(out, ev.ResumeSource)
    assert c.m.phase == "switchover" and c.m.error == "hand-over unfinished: refusing to remove 'web': it runs on the source"


def test_a_local_failure_while_libvirt_migrates_waits_for_libvirts_answer() -> None:
    """libvirt decides who runs the VM: the job is asked to stop, and if the destination runs the
    VM anyway it is a switch-over, not a roll-back."""
    c = core()
    transferring(c)
    out = step(c, ev.StepFailed("the store refused the record"))
    assert kinds(out) == ["Log", "AbortJob"] and c.stage is Stage.TRANSFERRING
    assert step(c, ev.LibvirtReturned()) == [ev.HandOver(), ev.ReadTotals(completed=True)]


def test_the_deadline_stops_the_job_and_the_stop_is_asked_again_each_poll() -> None:
    c = core(timeout_s=2)
    transferring(c)
    assert step(c, ev.Tick(1.0)) == [ev.SampleJob()]
    assert step(c, ev.Tick(2.5)) == [ev.SampleJob(), ev.AbortJob()]
    assert step(c, ev.Tick(3.0)) == [ev.SampleJob(), ev.AbortJob()]  # until libvirt's job ends
    rolled_back(step(c, ev.LibvirtFailed("aborted")), "failed", "timed out after 2s")


def test_the_switchover_gate_holds_qemus_limit_down_while_the_destination_is_owed_bytes() -> None:
    c = core()
    transferring(c)
    assert step(c, ev.DeliveryReport(0.1, None)) == []  # no receiver reports: QEMU keeps its share
    out = step(c, ev.DeliveryReport(0.2, (100 << 20, 0)))  # owed 100 MiB, pace unknown: the floor
    assert kinds(out) == ["SetDowntimeLimit"] and out[0].ms == 10 and "owed 104.9 MB" in out[0].note
    assert step(c, ev.DeliveryReport(0.3, (0, 100 << 20))) == []  # one change in flight at a time
    step(c, ev.DowntimeLimitSet(out[0].ms))
    out = step(c, ev.DeliveryReport(0.4, (50 << 20, 150 << 20)))  # owed 50 MiB at ~750 MiB/s: ~70 ms
    assert kinds(out) == ["SetDowntimeLimit"] and 10 < out[0].ms < SHARE_MS
    step(c, ev.DowntimeLimitSet(out[0].ms))
    out = step(c, ev.DeliveryReport(0.5, (0, 200 << 20)))  # drained: the whole share again
    assert out[0].ms == SHARE_MS
    assert kinds(step(c, ev.DowntimeLimitKept("job ended"))) == ["Log"]
    assert c.limit_ms < SHARE_MS  # kept the old limit


def test_the_downtime_correction_follows_the_tunnels_pace_on_amst_channels_only() -> None:
    plan = SourcePlan(timeout_s=600, share_ms=SHARE_MS, corrects_downtime=True)
    c = SourceCore(core().m, plan)
    transferring(c)
    step(c, ev.JobStats(0.5, {"memory_bps": 0}, TunnelStats(0, 0, 1)))
    step(c, ev.JobStats(1.0, {"memory_bps": 200e6}, TunnelStats(50 << 20, 25 << 20, 1)))  # QEMU 2x the tunnel
    assert 10 <= c.base_ms < SHARE_MS
    pipes = core()  # a pipe reads from QEMU only as the link drains: no correction
    transferring(pipes)
    step(pipes, ev.JobStats(0.5, {"memory_bps": 0}, TunnelStats(0, 0, 1)))
    step(pipes, ev.JobStats(1.0, {"memory_bps": 200e6}, TunnelStats(50 << 20, 25 << 20, 1)))
    assert pipes.base_ms == SHARE_MS


def test_a_destination_that_names_no_libvirt_uri_is_rolled_back() -> None:
    c = core()
    out = step(c, ev.Requested(), ev.CarrierOpened(5000), ev.DestinationPrepared(None))
    assert ev.Answer(True) in out
    rolled_back(out, "failed", "b prepared without naming its libvirt URI")


def test_stale_events_after_the_end_change_nothing() -> None:
    c = core()
    transferring(c)
    step(c, ev.LibvirtFailed("gone"), ev.Totals(TunnelStats()))
    assert c.finished
    for late in (ev.Tick(9.0), ev.JobStats(9.0, None, TunnelStats()), ev.DeliveryReport(9.0, (1, 1)),
                 ev.TunnelFailed("late"), ev.LibvirtReturned(), ev.AdoptAnswered(True), ev.CancelRequested()):  # fmt: skip
        assert step(c, late) == []
    assert c.m.phase == "failed"


def test_an_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        core().step(Unavailable("not an event"), T0)


def test_a_failure_while_ending_still_ends_and_still_answers() -> None:
    c = core()
    step(c, ev.Requested(), ev.CarrierOpened(5000))
    cause = Conflict("b lacks capacity", field="destination")
    step(c, ev.DestinationRefused("b lacks capacity", 409, "destination", cause))
    out = step(c, ev.StepFailed("the store is read-only"))  # deleting the record failed
    assert kinds(out) == ["Log", "Answer", "Finish"] and out[1].cause is cause
    c = core()
    transferring(c)
    step(c, ev.LibvirtFailed("gone"))
    assert kinds(step(c, ev.StepFailed("the peer client is closed"))) == ["Log", "Finish"]  # while rolling back
