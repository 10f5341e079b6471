"""Fakes for the outgoing migration's adapter (migration/ports.py, carrier.py): each records its
calls in one shared journal, so a test can read the order in which the adapter acted."""

from __future__ import annotations

import asyncio
import ssl
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from novacron.migration.machine import TERMINAL, DomainState
from novacron.migration.metrics import MigrationMetrics
from novacron.migration.outgoing import SourceIo
from novacron.migration.ports import LibvirtFailure
from novacron.migration.progress import TunnelStats
from novacron.transport import ChannelReader
from novacron_sdk.errors import NotFound, NovacronError
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import (
    PeerAbort,
    PeerAborted,
    PeerComplete,
    PeerCompleted,
    PeerPrepare,
    PeerPrepared,
    PeerVm,
    VmTransfer,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Journal(list[str]):
    def key(self, *skip: str) -> list[str]:
        """The entries, without the periodic ones (and those naming `skip`)."""
        periodic = ("job_stats", "delivery", "stats", "tune", "set_max_downtime(")
        return [e for e in self if not e.startswith(periodic) and not any(s in e for s in skip)]


class FakeClock:
    """Monotonic time moves only when someone sleeps; sleeping yields to the loop for a moment."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0.001)


class FakeLibvirt:
    """migrate() blocks (in its worker thread) until `finish()` or `fail()`; abort_job fails it."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self._done = threading.Event()
        self._error: str | None = None
        self.here: DomainState = "running"
        self.there: DomainState = "missing"
        self.missing_domain = False

    def finish(self) -> None:
        self.here, self.there = "paused", "running"
        self._done.set()

    def fail(self, why: str, *, destination_runs: bool = False) -> None:
        self._error = why
        if destination_runs:
            self.here, self.there = "paused", "running"
        self._done.set()

    def find_domain(self) -> None:
        self.j.append("libvirt.find_domain")
        if self.missing_domain:
            raise LibvirtFailure("Domain not found")

    def set_up(self, libvirt_uri: str, console_log: str | None, port: int) -> None:
        self.j.append(f"libvirt.set_up({libvirt_uri})")

    def set_max_downtime(self, ms: int) -> None:
        self.j.append(f"set_max_downtime({ms})")

    def migrate(self) -> None:
        self.j.append("libvirt.migrate")
        if not self._done.wait(30):
            raise LibvirtFailure("the test never ended the migration")
        if self._error is not None:
            raise LibvirtFailure(self._error)

    def job_stats(self) -> dict[str, Any] | None:
        self.j.append("job_stats")
        return {"memory_total": 1 << 30, "memory_remaining": 1 << 20, "memory_bps": 100e6}

    def final_stats(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        self.j.append("libvirt.final_stats")
        return {"downtime": 50, "time_elapsed": 1000}, {"downtime": 45}

    def abort_job(self) -> None:
        self.j.append("libvirt.abort_job")
        self.fail("operation aborted: job 'migration out' canceled by client")

    def who_runs(self) -> tuple[DomainState, DomainState]:
        return self.here, self.there

    def local_state(self) -> DomainState:
        return self.here

    def resume_if_paused(self) -> None:
        self.j.append("libvirt.resume_if_paused")

    def start(self) -> None:
        self.j.append("libvirt.start")

    def forget(self) -> None:
        self.j.append("libvirt.forget")

    def close(self) -> None:
        self.j.append("libvirt.close")


class FakePeers:
    """Scripted answers: `refuse_prepare` raises once; `adopt_failures` complete calls fail first."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.refuse_prepare: NovacronError | None = None
        self.adopt_failures = 0
        self.remote: DomainState | None = "missing"  # None: the destination cannot be asked
        self.prepare_gate: asyncio.Event | None = None

    async def prepare(self, node: str, mig_id: str, body: PeerPrepare, timeout: float | None = None) -> PeerPrepared:
        self.j.append(f"peers.prepare(port={body.port})")
        if self.prepare_gate is not None:
            await self.prepare_gate.wait()
        if self.refuse_prepare is not None:
            raise self.refuse_prepare
        return PeerPrepared(node=node, libvirt_uri="qemu:///dest", console_log=None)

    async def complete(self, node: str, mig_id: str, body: PeerComplete, timeout: float | None = None) -> PeerCompleted:
        self.j.append(f"peers.complete({body.migration.phase})")
        if self.adopt_failures:
            self.adopt_failures -= 1
            raise NovacronError(f"{node}: 'web' is paused on {node}, not running")
        return PeerCompleted(node=node)

    async def abort(self, node: str, mig_id: str, body: PeerAbort, timeout: float | None = None) -> PeerAborted:
        self.j.append(f"peers.abort({body.phase}, timeout={timeout:g})")
        return PeerAborted(node=node, removed=True)

    async def vm(self, node: str, name: str, timeout: float | None = None) -> PeerVm:
        if self.remote is None:
            raise NovacronError(f"peer {node} is unreachable")
        if self.remote == "missing":
            raise NotFound(f"no VM named {name!r} on {node}")
        return PeerVm(vm=name, node=node, state=self.remote, owned=False)


class FakeRecords:
    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.stored: dict[str, Migration] = {}
        self.fail_save_at: str | None = None  # a phase whose save raises

    def save(self, m: Migration) -> None:
        if m.phase == self.fail_save_at:
            raise NovacronError(f"the store refused the {m.phase} record")
        self.j.append(f"records.save({m.phase})")
        self.stored[m.id] = m

    def delete(self, mig_id: str) -> None:
        self.j.append("records.delete")
        self.stored.pop(mig_id, None)

    def close(self, final: Migration) -> None:
        current = self.stored.get(final.id, final)
        if current.phase not in TERMINAL:
            self.j.append(f"records.close({final.phase})")
            self.stored[final.id] = final

    def forget_vm(self, m: Migration) -> None:
        self.j.append("records.forget_vm")

    def vm_transfer(self, vm: str) -> VmTransfer | None:
        return VmTransfer.model_validate({"spec": {"name": vm, "memory_mib": 64}})


class FakeCarrier:
    def __init__(self, journal: Journal, on_error: Any, port: int) -> None:
        self.j, self.on_error, self.port = journal, on_error, 0
        self._port = port
        self.sent = 0

    async def start(self) -> int:
        self.j.append(f"carrier.start({self._port})")
        self.port = self._port
        return self.port

    def prewarm(self, connections: int) -> None:
        self.j.append(f"carrier.prewarm({connections})")

    def stats(self) -> TunnelStats:
        self.sent += 1 << 20
        return TunnelStats(bytes_in=self.sent, bytes_on_wire=self.sent // 2, streams=1)

    def delivery(self) -> tuple[int, int] | None:
        return (0, self.sent)

    def tune(self, interval_s: float) -> None:
        self.j.append("tune")

    def apply_congestion(self, congestion: str) -> None:
        self.j.append(f"carrier.apply_congestion({congestion})")

    def hand_over(self) -> None:
        self.j.append("carrier.hand_over")

    def attach_back(self, conn: int, reader: ChannelReader, first: bytes) -> str | None:
        return "fake"

    def attach_pipe_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        return "fake"

    async def close(self) -> None:
        self.j.append("carrier.close")


class Fakes:
    """Everything an OutgoingMigration touches, faked, with one journal."""

    def __init__(self) -> None:
        self.journal = Journal()
        self.libvirt = FakeLibvirt(self.journal)
        self.peers = FakePeers(self.journal)
        self.records = FakeRecords(self.journal)
        self.clock = FakeClock()
        self.carriers: list[FakeCarrier] = []

    def open_carrier(self, on_error: Any) -> FakeCarrier:
        carrier = FakeCarrier(self.journal, on_error, 5000 + len(self.carriers))
        self.carriers.append(carrier)
        return carrier

    def io(self) -> SourceIo:
        return SourceIo(libvirt=self.libvirt, peers=self.peers, records=self.records, open_carrier=self.open_carrier,
                        offload=asyncio.to_thread, metrics=MigrationMetrics(None), clock=self.clock)  # fmt: skip
