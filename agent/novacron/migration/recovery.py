"""After a restart: finish or roll back every migration this agent left unfinished.

Each one becomes a core started from its stored record: the source's (outgoing.py over
SourceCore.restarted) or the destination's (IncomingSide.recover), which decide with
machine.recover_source / recover_destination from what libvirt reports now (and, for the source,
whether the destination runs the VM). A source that cannot reach the destination while its own
copy is not running cannot tell whether the VM moved, so it waits and asks again rather than
risk running the VM twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container

from novacron.migration.deps import Deps
from novacron.migration.incoming import IncomingSide
from novacron.migration.machine import TERMINAL
from novacron.migration.outgoing import OutgoingMigration
from novacron_sdk.models.migration import Migration

RETRY_S = 5.0


async def recover_all(
    d: Deps, incoming: IncomingSide, restart: Callable[[Migration], OutgoingMigration], running: Container[str]
) -> None:
    """`restart(m)`: the source's half of m, started from its record; `running`: ids of
    migrations this agent runs now (not to be recovered)."""
    docs = await d.run(d.store.list_migrations)
    pending = [Migration.model_validate(x) for x in docs if x.get("phase") not in TERMINAL]
    pending = [m for m in pending if m.id not in running]
    while pending:
        pending = [m for m in pending if not await recover_one(d, incoming, restart, m)]
        if pending:
            await asyncio.sleep(RETRY_S)


async def recover_one(d: Deps, incoming: IncomingSide, restart: Callable[[Migration], OutgoingMigration],
                      m: Migration) -> bool:  # fmt: skip
    """True when the migration got its final phase."""
    if m.source == d.node_id:
        return await restart(m).recover()
    if m.destination == d.node_id:
        return await incoming.recover(m)
    return True
