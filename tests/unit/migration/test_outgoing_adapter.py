"""The outgoing migration's adapter (migration/outgoing.py) with fakes for libvirt, the peer, the
store and the carrier (fakes.py): the core's actions are performed in order, and what came of
them reaches the core. No root, libvirtd or network."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from novacron.migration.outgoing import OutgoingMigration
from novacron.migration.plan import SourcePlan
from novacron.migration.ports import LibvirtFailure
from novacron.migration.source_core import SourceCore
from novacron_sdk.errors import Conflict, NovacronError, Unavailable
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import VmTransfer
from tests.tooling.wait import until_async
from tests.unit.migration.fakes import T0, Fakes

pytestmark = pytest.mark.asyncio
RECORD = VmTransfer.model_validate({"spec": {"name": "web", "memory_mib": 64}})


def migration(f: Fakes) -> OutgoingMigration:
    m = Migration(id="m1", vm="web", source="a", destination="b", created_at=T0)
    return OutgoingMigration(f.io(), SourceCore(m, SourcePlan(timeout_s=600, share_ms=150)), RECORD)


async def running(f: Fakes, om: OutgoingMigration, until: Callable[[], Any]) -> asyncio.Task[Migration]:
    task = asyncio.create_task(om.run())
    await until_async("the migration to get there", until, timeout=10)
    return task


async def finish(task: Awaitable[Migration]) -> Migration:
    return await asyncio.wait_for(task, 10)


async def test_a_migration_is_carried_out_in_order() -> None:
    f = Fakes()
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    assert om.prepared.done() and om.prepared.exception() is None  # answered once the destination prepared
    await until_async("a progress sample", lambda: "job_stats" in f.journal)
    f.libvirt.finish()
    m = await finish(task)
    assert m.phase == "completed" and om.done.is_set()
    assert f.journal.key() == [
        "records.save(preparing)", "libvirt.find_domain", "carrier.start(5000)", "peers.prepare(port=5000)",
        "carrier.prewarm(1)", "libvirt.set_up(qemu:///dest)", "records.save(transferring)", "libvirt.migrate",
        "carrier.hand_over", "libvirt.final_stats", "records.save(switchover)", "peers.complete(switchover)",
        "libvirt.forget", "records.forget_vm", "records.save(completed)", "carrier.close", "libvirt.close",
    ]  # fmt: skip
    assert f.journal.index("set_max_downtime(150)") < f.journal.index("libvirt.migrate")


@pytest.mark.parametrize(("error", "abort"), [
    (Conflict("b: destination b lacks capacity", field="destination"), False),
    (Unavailable("peer b at http://b is unreachable"), True),
])  # fmt: skip
async def test_a_refusal_is_the_requests_answer_and_leaves_no_record(error: NovacronError, abort: bool) -> None:
    f = Fakes()
    f.peers.refuse_prepare = error
    om = migration(f)
    task = asyncio.create_task(om.run())
    with pytest.raises(type(error)) as raised:
        await asyncio.wait_for(asyncio.shield(om.prepared), 10)
    assert raised.value is error  # the destination's words reach the client
    await finish(task)
    expected = ["records.save(preparing)", "libvirt.find_domain", "carrier.start(5000)", "peers.prepare(port=5000)",
                *(["peers.abort(failed, timeout=5)"] if abort else []), "records.delete", "carrier.close",
                "libvirt.close"]  # fmt: skip
    assert f.journal.key() == expected and f.records.stored == {}


async def test_a_vanished_domain_is_refused_before_the_destination_hears_of_it() -> None:
    f = Fakes()
    f.libvirt.missing_domain = True
    om = migration(f)
    await finish(om.run())
    assert isinstance(om.prepared.exception(), LibvirtFailure) and "Domain not found" in str(om.prepared.exception())
    assert not [e for e in f.journal if e.startswith("peers.")] and f.records.stored == {}


async def test_a_taken_port_gets_a_fresh_carrier() -> None:
    f = Fakes()
    calls = 0

    async def prepare(node: str, mig_id: str, body: Any, timeout: float | None = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Conflict(f"port {body.port} is in use", field="port")
        return await type(f.peers).prepare(f.peers, node, mig_id, body)

    f.peers.prepare = prepare  # type: ignore[method-assign]
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    assert f.journal.key()[:6] == ["records.save(preparing)", "libvirt.find_domain", "carrier.start(5000)",
                                   "carrier.close", "carrier.start(5001)", "peers.prepare(port=5001)"]  # fmt: skip
    f.libvirt.finish()
    assert (await finish(task)).phase == "completed"


async def test_libvirt_failing_rolls_back_in_order() -> None:
    f = Fakes()
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    f.libvirt.fail("internal error: qemu unexpectedly closed the monitor")
    m = await finish(task)
    assert (m.phase, m.error) == ("failed", "libvirt: internal error: qemu unexpectedly closed the monitor")
    tail = f.journal.key()[f.journal.key().index("libvirt.migrate") + 1:]
    assert tail == ["libvirt.resume_if_paused", "peers.abort(failed, timeout=10)", "records.save(failed)",
                    "carrier.close", "libvirt.close"]  # fmt: skip


async def test_libvirt_failing_while_the_destination_runs_the_vm_completes() -> None:
    f = Fakes()
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    f.libvirt.fail("confirm step failed", destination_runs=True)
    assert (await finish(task)).phase == "completed"
    assert "peers.abort" not in " ".join(f.journal) and "libvirt.forget" in f.journal


async def test_cancel_while_transferring_aborts_the_job_and_after_the_switch_over_is_refused() -> None:
    f = Fakes()
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    om.cancel()
    m = await finish(task)
    assert (m.phase, m.error) == ("cancelled", "cancelled by request") and "libvirt.abort_job" in f.journal
    assert "peers.abort(cancelled, timeout=10)" in f.journal
    f = Fakes()
    f.peers.adopt_failures = 1_000_000  # the destination never adopts: the migration stays in switchover
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    f.libvirt.finish()
    await until_async("the switch-over", lambda: om.m.phase == "switchover" and "peers.complete(switchover)" in f.journal)
    with pytest.raises(Conflict):
        om.cancel()
    task.cancel()


async def test_adopting_is_retried_until_the_destination_takes_the_vm() -> None:
    f = Fakes()
    f.peers.adopt_failures = 3
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    f.libvirt.finish()
    assert (await finish(task)).phase == "completed"
    assert f.journal.count("peers.complete(switchover)") == 4 and "libvirt.resume_if_paused" not in f.journal
    assert f.clock.t >= 3 * 2.0  # two seconds between asks


async def test_a_tunnel_failure_mid_transfer_fails_the_migration() -> None:
    f = Fakes()
    om = migration(f)
    task = await running(f, om, lambda: "libvirt.migrate" in f.journal)
    f.carriers[0].on_error("pipe 0: Connection reset by peer")
    m = await finish(task)
    assert (m.phase, m.error) == ("failed", "DWCP tunnel failed: pipe 0: Connection reset by peer")
    assert "libvirt.abort_job" in f.journal


@pytest.mark.parametrize(("local", "remote", "decided", "journal"), [
    ("paused", "missing", True, ["libvirt.resume_if_paused", "peers.abort(failed, timeout=10)", "records.close(failed)"]),
    ("paused", None, False, []),  # the destination cannot be asked: ask again later, touch nothing
    ("stopped", "running", True, ["peers.complete(preparing)", "libvirt.forget", "records.forget_vm",
                                  "records.close(completed)"]),
])  # fmt: skip
async def test_a_restarted_source_decides_from_what_libvirt_and_the_destination_say(
    local: str, remote: str | None, decided: bool, journal: list[str]
) -> None:
    f = Fakes()
    f.libvirt.here, f.peers.remote = local, remote  # type: ignore[assignment]
    m = Migration(id="m1", vm="web", source="a", destination="b", phase="preparing")
    f.records.stored["m1"] = m
    assert await OutgoingMigration(f.io(), SourceCore.restarted(m), None).recover() is decided
    assert f.journal.key() == journal
