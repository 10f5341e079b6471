"""The four boot phases and their names.

Phases are plain ints (1..4) everywhere so labels, snapshots and errors agree; `Phase` only gives
them readable names at declaration sites.
"""

from __future__ import annotations

from enum import IntEnum


class Phase(IntEnum):
    PRE_INIT = 1  # environment, config, logging, resource checks
    CORE = 2  # security; database, cache, network; DWCP
    SERVICES = 3  # orchestration, API, monitoring
    POST_INIT = 4  # health check, metrics, ready signal


PHASE_NAMES: dict[int, str] = {
    Phase.PRE_INIT: "pre-init",
    Phase.CORE: "core",
    Phase.SERVICES: "services",
    Phase.POST_INIT: "post-init",
}


def phase_name(phase: int | None) -> str:
    """Human name of a phase; "not-started" before any phase has begun."""
    if phase is None:
        return "not-started"
    return PHASE_NAMES.get(phase, f"phase-{phase}")
