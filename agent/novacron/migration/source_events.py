"""The vocabulary of the source core (source_core.py): what happened (events) and what to do
(actions). Plain frozen data: the adapter (outgoing.py) turns each action into I/O and each
outcome into the next event; tests write them by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novacron.migration.machine import DomainState
from novacron.migration.progress import TunnelStats
from novacron_sdk.models.migration import Migration

# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """A client asked for the migration; nothing has happened yet."""


@dataclass(frozen=True)
class CarrierOpened:
    port: int


@dataclass(frozen=True)
class DestinationPrepared:
    libvirt_uri: str | None
    console_log: str | None = None


@dataclass(frozen=True)
class DestinationRefused:
    """The prepare call failed: `status` is the destination's HTTP status (None: no answer)."""

    reason: str
    status: int | None = None
    field: str | None = None
    cause: BaseException | None = None


@dataclass(frozen=True)
class LibvirtReady:
    """Both libvirt connections are open and the destination definition is ready."""


@dataclass(frozen=True)
class LibvirtStarted:
    """libvirt's migrate call is running (at monotonic time `t`)."""

    t: float


@dataclass(frozen=True)
class Tick:
    t: float


@dataclass(frozen=True)
class JobStats:
    t: float
    job: dict[str, Any] | None
    tunnel: TunnelStats


@dataclass(frozen=True)
class DeliveryReport:
    """The carrier's (undelivered, delivered) bytes, None while no receiver reports."""

    t: float
    delivery: tuple[int, int] | None


@dataclass(frozen=True)
class DowntimeLimitSet:
    ms: int


@dataclass(frozen=True)
class DowntimeLimitKept:
    reason: str


@dataclass(frozen=True)
class CancelRequested:
    pass


@dataclass(frozen=True)
class TunnelFailed:
    reason: str


@dataclass(frozen=True)
class LibvirtReturned:
    """libvirt's migrate call returned the running destination domain."""


@dataclass(frozen=True)
class LibvirtFailed:
    """libvirt's migrate call failed; `destination_runs`: yet the destination runs the VM and the
    source does not (libvirt may fail after the destination started, e.g. in its confirm step)."""

    reason: str
    destination_runs: bool = False


@dataclass(frozen=True)
class Totals:
    tunnel: TunnelStats
    completed: dict[str, Any] | None = None  # libvirt's completed-job statistics at the destination
    source_completed: dict[str, Any] | None = None


@dataclass(frozen=True)
class AdoptAnswered:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class SourceForgotten:
    pass


@dataclass(frozen=True)
class StepFailed:
    """An action that must succeed raised (`status`: its HTTP meaning, if it has one)."""

    reason: str
    status: int | None = None
    cause: BaseException | None = None


@dataclass(frozen=True)
class RestartFacts:
    """After a restart: the VM's domain here, and whether the destination runs it (None: unknown)."""

    local: DomainState
    remote_runs: bool | None


# -- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavePhase:
    m: Migration


@dataclass(frozen=True)
class FindDomain:
    pass


@dataclass(frozen=True)
class OpenCarrier:
    """Start a carrier (its port answers with CarrierOpened)."""


@dataclass(frozen=True)
class CloseCarrier:
    pass


@dataclass(frozen=True)
class PrepareDestination:
    port: int


@dataclass(frozen=True)
class Answer:
    """The client's request: accepted, or refused with `cause`."""

    accepted: bool
    reason: str = ""
    cause: BaseException | None = None


@dataclass(frozen=True)
class Prewarm:
    connections: int


@dataclass(frozen=True)
class FollowMode:
    """From now on, DWCP mode switches reach the carrier."""


@dataclass(frozen=True)
class SetUpLibvirt:
    libvirt_uri: str
    console_log: str | None


@dataclass(frozen=True)
class SetDowntimeLimit:
    """QEMU's downtime limit. With a `note` (the gate's) best effort: DowntimeLimitSet or
    DowntimeLimitKept follows; without, it must succeed."""

    ms: int
    note: str | None = None


@dataclass(frozen=True)
class StartLibvirtMigration:
    pass


@dataclass(frozen=True)
class SampleJob:
    pass


@dataclass(frozen=True)
class RecordSample:
    throughput_bps: float
    capacity_bps: float
    ratio: float


@dataclass(frozen=True)
class TuneCarrier:
    interval_s: float


@dataclass(frozen=True)
class AbortJob:
    pass


@dataclass(frozen=True)
class HandOver:
    pass


@dataclass(frozen=True)
class ReadTotals:
    completed: bool


@dataclass(frozen=True)
class CompleteOnDestination:
    m: Migration
    after_s: float = 0.0


@dataclass(frozen=True)
class ForgetSource:
    pass


@dataclass(frozen=True)
class ResumeSource:
    best_effort: bool = True


@dataclass(frozen=True)
class StartSource:
    pass


@dataclass(frozen=True)
class AbortDestination:
    phase: str
    reason: str
    timeout_s: float


@dataclass(frozen=True)
class DeleteRecord:
    pass


@dataclass(frozen=True)
class CloseRecord:
    """Give the stored migration its final phase, unless it already has one."""

    m: Migration


@dataclass(frozen=True)
class CancelRefused:
    error: Exception


@dataclass(frozen=True)
class Log:
    level: str  # "info", "warning" or "error"
    text: str


@dataclass(frozen=True)
class AskAgainLater:
    """After a restart: cannot decide yet; gather the facts again later."""


@dataclass(frozen=True)
class Finish:
    accepted: bool
