"""Boot component "probing": this node's probe endpoint, and the prober measuring its peers.

Probing is advisory (it steers the DWCP mode and bandwidth forecasts, nothing depends on it to
work), so a probe port that cannot be bound or a peer whose endpoint is unknown costs a logged
error, not the boot. The endpoint listens on api.listen_address like the DWCP listener; its port
and the probing intervals are in `dwcp.probe` (see novacron.transport.probe.runner for the cost).
"""

from __future__ import annotations

import logging

from novacron.boot import BootContext
from novacron.dwcp.probe.targets import probe_port, resolve_targets
from novacron.transport.probe.runner import ProbeRunner
from novacron.transport.probe.server import ProbeServer
from novacron_sdk.errors import InvalidInput

log = logging.getLogger("novacron.agent")


async def start_probing(ctx: BootContext) -> None:
    svc = ctx.services
    cfg = svc.config
    server = ProbeServer()
    try:
        port = await server.start(cfg.api.listen_address, probe_port(cfg.dwcp))
    except (OSError, InvalidInput) as exc:
        log.error("dwcp.probe.port: cannot serve the probe endpoint (%s); peers cannot measure this node", exc)
        server = None
    else:
        log.info("probe endpoint listening on %s:%d", cfg.api.listen_address, port)
    ctx.probe_server = server

    targets, skipped = resolve_targets(cfg)
    for exc in skipped:
        log.error("not probing a peer: %s", exc)
    try:
        runner = ProbeRunner(svc.mode, targets, cfg.dwcp.probe, cfg.dwcp.transport, registry=ctx.get("registry"))
        await runner.start()
    except BaseException:
        if server is not None:
            await server.stop()
        ctx.probe_server = None
        raise
    ctx.probe_runner = runner
    svc.extra["probing"] = runner


async def stop_probing(ctx: BootContext) -> None:
    runner = ctx.get("probe_runner")
    if runner is not None:
        await runner.stop()
        ctx.probe_runner = None
    server = ctx.get("probe_server")
    if server is not None:
        await server.stop()
        ctx.probe_server = None
