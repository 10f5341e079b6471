"""The vocabulary of the destination core (destination_core.py): the peer calls, channels and
timers that reach it (events), the facts the adapter looked up for it, and what it asks the
adapter (incoming.py) to do (actions). Plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novacron.migration.machine import DomainState, Recovery
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import PeerAbort, PeerComplete, PeerPrepare, VmTransfer

# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareAsked:
    """`caller`: the node its certificate proves; `now`: monotonic time; `source_error`: why this
    node cannot reach the source's DWCP listener (None: it can)."""

    mig_id: str
    body: PeerPrepare
    caller: str
    now: float
    source_error: Exception | None = None


@dataclass(frozen=True)
class VmHere:
    """What this node knows of a VM's name: its record's node, its domain, and whether the domain
    is one an agent rewrote for this node (`managed_here`)."""

    owner: str | None
    domain: DomainState
    managed_here: bool = False
    earlier_here: tuple[str, ...] = ()  # ids of migrations of it recorded here with this node as destination


@dataclass(frozen=True)
class PrepareFacts:
    ask: PrepareAsked
    vm: VmHere
    known: bool  # a migration with this id is recorded here
    free_mib: int | None  # None: unknown (libvirt's test driver)
    port_free: bool
    console_log: str | None
    libvirt_uri: str
    looked_again: bool = False  # after removing a leftover domain


@dataclass(frozen=True)
class Prepared:
    """The prepared migration's record and VM spec are stored: it may be tracked now."""

    ask: PrepareAsked
    m: Migration
    console_log: str | None
    libvirt_uri: str


@dataclass(frozen=True)
class ChannelArrived:
    mig_id: str
    peers: frozenset[str]  # the nodes its certificates name


@dataclass(frozen=True)
class CompleteAsked:
    mig_id: str
    body: PeerComplete
    caller: str


@dataclass(frozen=True)
class Adoption:
    """What libvirt here says of the VM's domain, and whose record the store holds."""

    state: str  # "running", "paused", ... or "missing"
    uuid: str | None = None
    definition: str = ""
    owner: str | None = None
    owner_uuid: str | None = None


@dataclass(frozen=True)
class CompletionFacts:
    ask: CompleteAsked
    stored: Migration | None  # the migration as recorded here (looked up when not tracked)
    stored_record: VmTransfer | None  # the spec the source sent with the prepare
    adoption: Adoption


@dataclass(frozen=True)
class AbortAsked:
    mig_id: str
    body: PeerAbort
    caller: str


@dataclass(frozen=True)
class AbortFacts:
    ask: AbortAsked
    stored: Migration | None
    owned_here: bool


@dataclass(frozen=True)
class Sweep:
    now: float


@dataclass(frozen=True)
class Restarted:
    """After a restart: an unfinished incoming migration, its domain here, whether this node owns the VM."""

    m: Migration
    local: DomainState
    owned_here: bool


# -- actions (and the facts some of them answer with) ---------------------------------------------


@dataclass(frozen=True)
class Refuse:
    error: Exception


@dataclass(frozen=True)
class Answer:
    value: Any


@dataclass(frozen=True)
class GatherPrepareFacts:
    ask: PrepareAsked
    looked_again: bool = False


@dataclass(frozen=True)
class DestroyLeftover:
    vm: str


@dataclass(frozen=True)
class CloseRelay:
    mig_id: str


@dataclass(frozen=True)
class MakeVmDir:
    console_log: str


@dataclass(frozen=True)
class SaveRecord:
    m: Migration


@dataclass(frozen=True)
class KeepVmSpec:
    mig_id: str
    record: VmTransfer | None


@dataclass(frozen=True)
class Then:
    """Step `event` once the actions before it succeeded."""

    event: Any


@dataclass(frozen=True)
class OpenRelay:
    mig_id: str
    port: int
    source: str
    small_buffers: bool


@dataclass(frozen=True)
class BeginBusy:
    peer: str
    mig_id: str
    ttl_s: float


@dataclass(frozen=True)
class EndBusy:
    peer: str
    mig_id: str


@dataclass(frozen=True)
class CountActive:
    n: int


@dataclass(frozen=True)
class TakeChannel:
    mig_id: str


@dataclass(frozen=True)
class TurnAway:
    reason: str


@dataclass(frozen=True)
class GatherCompletionFacts:
    ask: CompleteAsked
    stored_needed: bool


@dataclass(frozen=True)
class RecordVm:
    """Record the VM as this node's, from the spec the source sent and the domain libvirt runs."""

    m: Migration
    record: VmTransfer
    uuid: str | None
    definition: str


@dataclass(frozen=True)
class CollectSoon:
    pass


@dataclass(frozen=True)
class GatherAbortFacts:
    ask: AbortAsked
    stored_needed: bool


@dataclass(frozen=True)
class RemoveIncomingCopy:
    """Destroy the unfinished incoming copy (libvirt_ops.destroy_unowned: never a running one);
    whether it removed one is the abort's answer."""

    vm: str


@dataclass(frozen=True)
class AnswerRemoved:
    """Answer an abort with what RemoveIncomingCopy removed (nothing if it did not run)."""


@dataclass(frozen=True)
class CloseRecord:
    """Give the stored migration m's final phase, unless it already has one."""

    m: Migration


@dataclass(frozen=True)
class CheckExpired:
    """Look up whether the VM runs here and is owned here (answered with SweepFacts)."""

    mig_id: str
    vm: str
    why: str
    unless_running: bool


@dataclass(frozen=True)
class SweepFacts:
    check: CheckExpired
    running: bool
    owned_here: bool


@dataclass(frozen=True)
class Expired:
    mig_id: str


@dataclass(frozen=True)
class GatherAdoption:
    m: Migration
    decision: Recovery


@dataclass(frozen=True)
class RestartAdoption:
    m: Migration
    decision: Recovery
    record: VmTransfer | None
    adoption: Adoption


@dataclass(frozen=True)
class Log:
    level: str
    text: str
