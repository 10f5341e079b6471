"""After a restart: finish or roll back every migration this agent left unfinished.

Each one is decided by machine.recover_source / recover_destination from what libvirt reports now
(and, for the source, whether the destination runs the VM). A source that cannot reach the
destination while its own copy is not running cannot tell whether the VM moved, so it waits and
asks again rather than risk running the VM twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from novacron.migration import libvirt_ops as lv
from novacron.migration.deps import Deps, now
from novacron.migration.machine import TERMINAL, Recovery, recover_destination, recover_source
from novacron.migration.outgoing import abort_destination, forget_source
from novacron_sdk.errors import NotFound, NovacronError, Unavailable
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import PeerComplete, VmTransfer

if TYPE_CHECKING:
    from novacron.migration.service import MigrationService

log = logging.getLogger(__name__)
RETRY_S = 5.0


async def recover_all(svc: MigrationService) -> None:
    d = svc.d
    docs = await d.run(d.store.list_migrations)
    pending = [Migration.model_validate(x) for x in docs if x.get("phase") not in TERMINAL]
    pending = [m for m in pending if m.id not in svc.active]
    while pending:
        waiting = []
        for m in pending:
            try:
                decided = await recover_one(svc, m)
            except NovacronError as exc:
                log.warning("recovering migration %s: %s", m.id, exc.detail)
                decided = False
            if not decided:
                waiting.append(m)
        pending = waiting
        if pending:
            await asyncio.sleep(RETRY_S)


async def recover_one(svc: MigrationService, m: Migration) -> bool:
    """True when the migration got its final phase."""
    d = svc.d
    local = await d.run(lv.domain_state, d.driver.conn, m.vm)
    if m.source == d.node_id:
        decision = recover_source(local, await _remote_runs(d, m))
        if decision.outcome is None:
            log.warning("migration %s of %s: %s; asking again later", m.id, m.vm, decision.reason)
            return False
        await _source_actions(d, m, decision)
    elif m.destination == d.node_id:
        rec = await d.run(d.store.get_vm, m.vm)
        decision = recover_destination(local, rec is not None and rec.node == d.node_id)
        if "adopt_local" in decision.actions:
            record = await d.run(svc.incoming.stored_record, m.id)
            await d.run(svc.incoming.adopt, m, record)
        if "destroy_local" in decision.actions:
            await d.run(lv.destroy_unowned, d.driver.conn, m.vm)
    else:
        return True
    final = await d.run(d.load, m.id) or m
    if final.phase not in TERMINAL:
        error = None if decision.outcome == "completed" else f"agent restarted mid-migration: {decision.reason}"
        await d.run(d.save, final.model_copy(update={"phase": decision.outcome, "error": error, "finished_at": now()}))
    log.warning("migration %s of %s recovered as %s: %s", m.id, m.vm, decision.outcome, decision.reason)
    return True


async def _remote_runs(d: Deps, m: Migration) -> bool | None:
    try:
        answer = await d.peers.vm(m.destination, m.vm, timeout=10)
    except NotFound:
        return False
    except (Unavailable, NovacronError):
        return None
    return answer.state == "running"


async def _source_actions(d: Deps, m: Migration, decision: Recovery) -> None:
    acts = decision.actions
    if "resume_local" in acts:
        await d.run(lv.resume_if_paused, d.driver.conn, m.vm)
    if "start_local" in acts:
        await d.run(lv.start, d.driver.conn, m.vm)
    if "abort_remote" in acts:
        await abort_destination(d, m, "failed", f"source agent restarted: {decision.reason}")
    if "adopt_remote" in acts:
        rec = await d.run(d.store.get_vm, m.vm)
        record = VmTransfer.model_validate({"spec": rec.spec, "applied": rec.applied, "uuid": rec.uuid}) if rec else None
        await d.peers.complete(m.destination, m.id, PeerComplete(migration=m, record=record))
    if "forget_local" in acts:
        await d.run(forget_source, d, m)
