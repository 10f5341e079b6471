"""The services the API wires together, filled in by the boot components as they start.

A route whose service has not started yet answers 503 rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from novacron.errors import Unavailable
from novacron.models.config import AgentConfig

if TYPE_CHECKING:
    from novacron.boot import BootProgress


@dataclass
class AgentServices:
    config: AgentConfig
    progress: BootProgress
    store: Any = None
    hypervisor: Any = None
    vms: Any = None
    mode: Any = None
    migrations: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, name: str) -> Any:
        service = getattr(self, name, None)
        if service is None:
            raise Unavailable(f"the {name} service is not running (agent starting or degraded)")
        return service


def services(request: Request) -> AgentServices:
    return request.app.state.services
