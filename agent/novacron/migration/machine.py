"""The migration's phases and the ownership rule, as pure functions (no libvirt, no sockets, no clock).

Phases move forward only. `switchover` is the point of no return: it is entered when libvirt has
confirmed that the destination runs the VM, so from there the only way out is `completed`; any
failure before it leaves the VM owned by (and running on) the source. `recover()` is the decision
table an agent applies on restart to a migration it was part of, from what libvirt reports now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from novacron_sdk.errors import Conflict
from novacron_sdk.models.migration import Migration, MigrationPhase

TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
BUSY_GRACE_S = 60.0
"""A migration's busy span (ModeService.begin_busy), and its prepared state at the destination,
outlive its timeout by this much at most."""
_NEXT: dict[str, frozenset[str]] = {
    "pending": frozenset({"preparing", "failed", "cancelled"}),
    "preparing": frozenset({"transferring", "failed", "cancelled"}),
    "transferring": frozenset({"switchover", "failed", "cancelled"}),
    "switchover": frozenset({"completed"}),  # libvirt confirmed the destination runs: no way back
}

DomainState = Literal["running", "paused", "stopped", "missing", "other"]


def advance(m: Migration, phase: MigrationPhase, *, now: datetime, error: str | None = None) -> Migration:
    """`m` moved to `phase` (a copy). Raises Conflict for a move the ownership rule forbids."""
    if phase == m.phase:
        return m
    if phase not in _NEXT.get(m.phase, frozenset()):
        raise Conflict(f"migration {m.id} cannot go from {m.phase} to {phase}", field="phase")
    update: dict[str, object] = {"phase": phase}
    if error is not None:
        update["error"] = error
    if phase in TERMINAL:
        update["finished_at"] = now
    return m.model_copy(update=update)


def may_cancel(m: Migration) -> bool:
    """Only before the switch-over: after it the VM already runs on the destination."""
    return m.phase in ("pending", "preparing", "transferring")


@dataclass(frozen=True)
class Recovery:
    """What an agent restarted mid-migration must do. `outcome` None: cannot decide yet (retry)."""

    outcome: Literal["completed", "failed"] | None
    actions: tuple[str, ...] = field(default=())
    reason: str = ""


def recover_source(local: DomainState, remote_runs: bool | None) -> Recovery:
    """The source agent restarted with the migration unfinished.

    `local`: the VM's domain here; `remote_runs`: whether the destination's libvirt runs it (None
    when the destination cannot be asked). libvirt never runs both copies, so a running local copy
    means the migration did not complete, whatever the destination says.
    """
    if local == "running":
        return Recovery("failed", ("abort_remote",), "the source agent restarted before the switch-over")
    if remote_runs is None:
        return Recovery(None, (), "the destination cannot be asked whether it runs the VM")
    if remote_runs:
        return Recovery("completed", ("adopt_remote", "forget_local"), "the destination runs the VM")
    if local == "paused":
        return Recovery(
            "failed", ("resume_local", "abort_remote"), "the destination does not run the VM: resumed here"
        )
    if local == "stopped":
        return Recovery(
            "failed",
            ("start_local", "abort_remote"),
            "neither node ran the VM after the restart: started it again here (its memory is lost)",
        )
    return Recovery("failed", ("abort_remote",), f"the VM's domain is {local} here and not on the destination")


def recover_destination(local: DomainState, adopted: bool) -> Recovery:
    """The destination agent restarted with an incoming migration unfinished.

    A running domain means libvirt finished the hand-over: it is ours (adopt it). A paused one is an
    unfinished incoming copy: the source still owns the VM, so ours is destroyed.
    """
    if local == "running":
        return Recovery("completed", () if adopted else ("adopt_local",), "libvirt runs the VM here")
    if local in ("paused", "other"):
        return Recovery("failed", ("destroy_local",), "the incoming copy never started here")
    return Recovery("failed", (), "the VM never arrived here")
