"""The services the API wires together, filled in by the boot components as they start.

A route whose service has not started yet answers 503 rather than guessing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from novacron.config.model import AgentConfig
from novacron_sdk.errors import Unavailable

if TYPE_CHECKING:
    from novacron.boot import BootProgress

T = TypeVar("T")


@dataclass
class AgentServices:
    config: AgentConfig
    progress: BootProgress
    store: Any = None
    hypervisor: Any = None
    vms: Any = None
    mode: Any = None
    migrations: Any = None
    tokens: Any = None  # auth.issuing.TokenIssuer
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, name: str) -> Any:
        service = getattr(self, name, None)
        if service is None:
            raise Unavailable(f"the {name} service is not running (agent starting or degraded)")
        return service

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Blocking store work, off the event loop."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


def services(request: Request) -> AgentServices:
    return request.app.state.services
