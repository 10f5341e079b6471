"""`novacron agent run`: boot in four phases, serve until SIGTERM/SIGINT, shut down in reverse."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from prometheus_client import CollectorRegistry

from novacron.api.services import AgentServices
from novacron.boot import BootContext, BootError, BootProgress, Initializer
from novacron.config.model import AgentConfig
from novacron.runtime.components import agent_components
from novacron.runtime.logs import configure_logging

log = logging.getLogger("novacron.agent")


async def run_agent(config: AgentConfig, *, started_at: float | None = None) -> int:
    """Boot, serve, shut down. Returns the process exit code."""
    configure_logging(config.system.log_level)
    registry = CollectorRegistry()
    progress = BootProgress()
    svc = AgentServices(config=config, progress=progress)
    ctx = BootContext(services=svc, registry=registry, started_at=started_at or time.perf_counter())
    init = Initializer(agent_components(), ctx, registry=registry, progress=progress)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await init.run()
    except BootError as exc:
        log.error("boot failed in phase %s at %s: %s", exc.phase, exc.component, exc.cause)
        print(f"novacron-agent: boot failed: {exc.component} (phase {exc.phase}): {exc.cause}", file=sys.stderr)
        return 1
    log.info("agent %s ready", config.system.node_id)
    await stop.wait()
    log.info("shutting down")
    await init.shutdown()
    return 0


def run(config: AgentConfig) -> int:
    started = time.perf_counter()
    return asyncio.run(run_agent(config, started_at=started))
