"""Four-phase boot of the agent: components declare name, phase and dependencies;
the initializer starts them level by level with timeout, retry, rollback, progress and metrics."""

from novacron.boot.component import MAX_BACKOFF_S, BootContext, Component
from novacron.boot.initializer import BootError, ComponentTimeout, Initializer
from novacron.boot.metrics import BootMetrics
from novacron.boot.phases import PHASE_NAMES, Phase, phase_name
from novacron.boot.progress import COMPONENT_STATES, BootProgress
from novacron.boot.resolver import BootGraphError, resolve

__all__ = [
    "COMPONENT_STATES",
    "MAX_BACKOFF_S",
    "PHASE_NAMES",
    "BootContext",
    "BootError",
    "BootGraphError",
    "BootMetrics",
    "BootProgress",
    "Component",
    "ComponentTimeout",
    "Initializer",
    "Phase",
    "phase_name",
    "resolve",
]
