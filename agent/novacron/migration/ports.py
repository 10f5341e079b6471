"""The I/O an outgoing migration's adapter (outgoing.py) performs, as small interfaces: libvirt,
the peer agent, the store, the clock. The agent wires the real ones (wiring.py); unit tests pass
fakes, so the adapter runs without root, libvirtd or a peer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from novacron.migration.machine import DomainState
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


class LibvirtFailure(Exception):
    """libvirt refused a call; the message is libvirt's own reason."""


class SourceLibvirt(Protocol):
    """One outgoing migration's libvirt: the VM's domain here, the connection to the destination's
    libvirtd, and the migrate call. Blocking calls (the adapter runs them in worker threads)."""

    def find_domain(self) -> None: ...

    def set_up(self, libvirt_uri: str, console_log: str | None, port: int) -> None:
        """Connect to the destination's libvirtd and prepare the call (definitions, parameters)."""
        ...

    def set_max_downtime(self, ms: int) -> None: ...

    def migrate(self) -> None:
        """Returns once the destination runs the VM; raises LibvirtFailure."""
        ...

    def job_stats(self) -> dict[str, Any] | None: ...

    def final_stats(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """libvirt's completed-job statistics: (at the destination, at the source)."""
        ...

    def abort_job(self) -> None: ...

    def who_runs(self) -> tuple[DomainState, DomainState]:
        """(here, at the destination): the VM's domain state on each side."""
        ...

    def local_state(self) -> DomainState: ...

    def resume_if_paused(self) -> None: ...

    def start(self) -> None: ...

    def forget(self) -> None:
        """Remove the (stopped) definition here once the destination owns the VM."""
        ...

    def close(self) -> None: ...


class Peers(Protocol):
    """The peer protocol's client (peer.PeerClient)."""

    async def prepare(self, node: str, mig_id: str, body: PeerPrepare, timeout: float | None = None
                      ) -> PeerPrepared: ...  # fmt: skip

    async def complete(self, node: str, mig_id: str, body: PeerComplete, timeout: float | None = None
                       ) -> PeerCompleted: ...  # fmt: skip

    async def abort(self, node: str, mig_id: str, body: PeerAbort, timeout: float | None = None
                    ) -> PeerAborted: ...  # fmt: skip

    async def vm(self, node: str, name: str, timeout: float | None = None) -> PeerVm: ...


class Records(Protocol):
    """The migration's record and the VM's, in this node's store. Blocking calls."""

    def save(self, m: Migration) -> None: ...

    def delete(self, mig_id: str) -> None: ...

    def close(self, final: Migration) -> None:
        """Give the stored migration final's phase, error and finish time, unless it already has a final phase."""
        ...

    def forget_vm(self, m: Migration) -> None:
        """The destination owns the VM: drop this node's record of it (if it is this node's)."""
        ...

    def vm_transfer(self, vm: str) -> VmTransfer | None:
        """The VM's spec as a destination records it."""
        ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class LinkBusy(Protocol):
    """The mode service's busy spans: no probes of a link a migration is using."""

    def begin_busy(self, peer: str, token: str, max_s: float) -> None: ...

    def end_busy(self, peer: str, token: str) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
