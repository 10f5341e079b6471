"""How the service's dependencies become one outgoing migration: its plan, its core, and the real
I/O behind the adapter's interfaces (libvirt, the peer client, the store, the carrier)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from novacron.migration import plan as planning
from novacron.migration.amst_carrier import AmstCarrier
from novacron.migration.carrier import Carrier
from novacron.migration.deps import Deps
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.libvirt_source import LibvirtSource
from novacron.migration.outgoing import OutgoingMigration, SourceIo
from novacron.migration.pipe_carrier import PipeCarrier
from novacron.migration.progress import ProgressTracker
from novacron.migration.records import StoreRecords
from novacron.migration.source_core import SourceCore
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import VmTransfer

log = logging.getLogger(__name__)


def open_carrier(mig_id: str, dest: PeerEndpoint, plan: planning.ChannelPlan, on_error: Callable[[str], None]
                 ) -> Carrier:  # fmt: skip
    """The carrier the plan asks for: TLS pipes, or AMST channels."""
    kind = PipeCarrier if plan.pipe else AmstCarrier
    return kind(mig_id, dest, plan, on_error=on_error)


def outgoing_migration(d: Deps, m: Migration, record: VmTransfer, predictor: Any = None) -> OutgoingMigration:
    """A requested migration, ready to run."""
    profile, flags = d.profile_and_flags()
    chan = planning.channel_plan(m.options, profile, flags, memory_mib=record.spec.memory_mib)
    log.info("migration %s of %s to %s: %s", m.id, m.vm, m.destination, chan.describe())
    core = SourceCore(m, planning.source_plan(m, chan), ProgressTracker(predictor))

    def carrier(on_error: Callable[[str], None]) -> Carrier:
        return open_carrier(m.id, d.endpoint(m.destination), chan, on_error)

    return OutgoingMigration(_io(d, m, chan.multifd_compression, carrier, locked=True), core, record)


def restarted_migration(d: Deps, m: Migration) -> OutgoingMigration:
    """An outgoing migration this agent left unfinished, to be decided (machine.recover_source)."""

    def no_carrier(_on_error: Callable[[str], None]) -> Carrier:
        raise RuntimeError("a restarted migration carries nothing")

    return OutgoingMigration(_io(d, m, None, no_carrier, locked=False), SourceCore.restarted(m), None)


def _io(d: Deps, m: Migration, multifd: str | None, carrier: Callable[[Callable[[str], None]], Carrier],
        *, locked: bool) -> SourceIo:  # fmt: skip
    io = SourceIo(
        libvirt=LibvirtSource(d.driver.conn, m, multifd), peers=d.peers, records=StoreRecords(d.store, d.node_id),
        open_carrier=carrier, offload=d.run, metrics=d.metrics, busy=d.mode if locked else None,
        follow_mode=_mode_follower(d),
    )  # fmt: skip
    if locked:
        io.exclusive = d.vms._exclusive
    return io


def _mode_follower(d: Deps) -> Callable[[Callable[[str], None]], Any]:
    """Mode switches while the migration runs reach its carrier (live settings contract: the
    subscriber only schedules the change; it never blocks the switch)."""

    def follow(apply: Callable[[str], None]) -> Any:
        if d.mode is None or not d.profile_and_flags()[1].transport:
            return None
        return d.mode.live.subscribe(lambda profile: apply(profile.congestion), replay=False)

    return follow
