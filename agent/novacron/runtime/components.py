"""The agent's boot components: what starts in which phase, after what.

Phase 1 pre-init: environment, logging, resources. Phase 2 core: security; then database,
hypervisor and network in parallel; then the DWCP services. Phase 3 services: orchestration,
API, monitoring. Phase 4 post-init: health check, metrics, ready signal. The resolver turns the
`depends_on` edges into levels; each component only fills its slot in `AgentServices`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
from typing import Any

from novacron.api.services import AgentServices
from novacron.boot import BootContext, Component

log = logging.getLogger("novacron.agent")
MIN_FREE_DISK_MIB = 64


def _svc(ctx: BootContext) -> AgentServices:
    return ctx.services


async def _environment(ctx: BootContext) -> None:
    cfg = _svc(ctx).config
    data_dir = cfg.system.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o750)
    if not os.access(data_dir, os.W_OK):
        raise RuntimeError(f"system.data_dir {data_dir} is not writable")


async def _logging(ctx: BootContext) -> None:
    from novacron.runtime.logs import configure_logging

    configure_logging(_svc(ctx).config.system.log_level)


async def _resources(ctx: BootContext) -> None:
    cfg = _svc(ctx).config
    free_mib = shutil.disk_usage(cfg.system.data_dir).free // (1 << 20)
    if free_mib < MIN_FREE_DISK_MIB:
        raise RuntimeError(f"only {free_mib} MiB free in {cfg.system.data_dir}")


async def _security(ctx: BootContext) -> None:
    from novacron.auth.redact import install_redaction
    from novacron.secrets import load_signing_key

    key = await asyncio.to_thread(load_signing_key, _svc(ctx).config)
    ctx.signing_key = key
    install_redaction([key])


async def _database(ctx: BootContext) -> None:
    from novacron.store import open_store

    svc = _svc(ctx)
    svc.store = await asyncio.to_thread(open_store, svc.config.store_url())


async def _close_database(ctx: BootContext) -> None:
    svc = _svc(ctx)
    if svc.store is not None:
        await asyncio.to_thread(svc.store.close)
        svc.store = None


async def _hypervisor(ctx: BootContext) -> None:
    from novacron.hypervisor.driver import HypervisorDriver

    svc = _svc(ctx)
    driver = HypervisorDriver(svc.config.hypervisor, svc.config.system.node_id, svc.config.system.data_dir)
    await asyncio.to_thread(driver.open)
    svc.hypervisor = driver


async def _close_hypervisor(ctx: BootContext) -> None:
    svc = _svc(ctx)
    if svc.hypervisor is not None:
        await asyncio.to_thread(svc.hypervisor.close)
        svc.hypervisor = None


async def _network(ctx: BootContext) -> None:
    """Check the DWCP port can be bound now, so a clash fails the boot, not the first migration."""
    cfg = _svc(ctx).config
    if cfg.dwcp.listen_port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((cfg.api.listen_address, cfg.dwcp.listen_port))
        except OSError as exc:
            raise RuntimeError(f"dwcp.listen_port {cfg.dwcp.listen_port}: {exc.strerror}") from None


async def _dwcp(ctx: BootContext) -> None:
    from novacron.transport.mode.service import ModeService

    svc = _svc(ctx)
    svc.mode = ModeService(svc.config, registry=ctx.registry)


async def _orchestration(ctx: BootContext) -> None:
    from novacron.vms.service import VmService

    svc = _svc(ctx)
    svc.vms = VmService(svc.hypervisor, svc.store, svc.config)
    drift = await svc.vms.reconcile()
    if drift:
        log.warning("reconcile found %d difference(s) between the store and libvirt", len(drift))


async def _stop_orchestration(ctx: BootContext) -> None:
    svc = _svc(ctx)
    if svc.vms is not None:
        await asyncio.to_thread(svc.vms.close)
        svc.vms = None


async def _migrations(ctx: BootContext) -> None:
    """Live migration over DWCP: the service, its DWCP listener and recovery of unfinished ones."""
    from novacron.migration.service import MigrationService

    svc = _svc(ctx)
    cfg = svc.config
    service = MigrationService(
        cfg, svc.store, svc.hypervisor, svc.vms, svc.mode, registry=ctx.get("registry")
    )
    try:
        await service.start(cfg.api.listen_address, cfg.dwcp.listen_port)
    except BaseException:
        await service.stop()
        raise
    svc.migrations = service


async def _stop_migrations(ctx: BootContext) -> None:
    svc = _svc(ctx)
    if svc.migrations is not None:
        await svc.migrations.stop()
        svc.migrations = None


async def _api(ctx: BootContext) -> None:
    from novacron.runtime.access import start_access
    from novacron.runtime.server import start_api_server

    svc = _svc(ctx)
    ctx.access = await start_access(svc, ctx.signing_key)
    ctx.api_server = await start_api_server(svc, ctx.access.authenticator)


async def _stop_api(ctx: BootContext) -> None:
    server = ctx.get("api_server")
    if server is not None:
        await server.stop()
    access = ctx.get("access")
    if access is not None:
        await access.stop()


async def _monitoring(ctx: BootContext) -> None:
    from prometheus_client import start_http_server

    cfg = _svc(ctx).config.metrics
    if not cfg.enabled:
        ctx.metrics_port = None
        return
    server, thread = start_http_server(cfg.port, addr=cfg.listen_address, registry=ctx.registry)
    ctx.metrics_server = (server, thread)
    ctx.metrics_port = server.server_port


async def _stop_monitoring(ctx: BootContext) -> None:
    pair = ctx.get("metrics_server")
    if pair is not None:
        server, thread = pair
        await asyncio.to_thread(server.shutdown)
        server.server_close()


async def _health_check(ctx: BootContext) -> None:
    """Ask our own API over HTTP, as a load balancer would, before declaring ready."""
    from novacron.runtime.selfcheck import http_status

    url = ctx.api_server.url + "/health"
    # Our own listener, just bound: the point is that it answers, not who signed its certificate
    # (a CA-issued certificate would not verify against itself).
    status = await http_status(url)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}")


async def _metrics_ready(ctx: BootContext) -> None:
    port = ctx.get("metrics_port")
    if port is None:
        return
    from novacron.runtime.selfcheck import http_status

    host = _svc(ctx).config.metrics.listen_address
    status = await http_status(f"http://{_url_host(host)}:{port}/metrics")
    if status != 200:
        raise RuntimeError(f"metrics endpoint answered {status}")


async def _ready(ctx: BootContext) -> None:
    """Write runtime.json (ports actually bound) and announce readiness on stdout."""
    svc = _svc(ctx)
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "node_id": svc.config.system.node_id,
        "api_url": ctx.api_server.url,
        "metrics_port": ctx.get("metrics_port"),
    }
    path = svc.config.system.data_dir / "runtime.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)
    print(f"novacron-agent ready {json.dumps(info)}", flush=True)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def agent_components() -> list[Component]:
    from novacron.runtime.probing import start_probing, stop_probing

    c = Component
    return [
        c("environment", 1, _environment),
        c("logging", 1, _logging, depends_on=("environment",)),
        c("resources", 1, _resources, depends_on=("environment",)),
        c("security", 2, _security, timeout_s=15, retries=3),
        c("database", 2, _database, _close_database, depends_on=("security",), retries=3),
        c("hypervisor", 2, _hypervisor, _close_hypervisor, depends_on=("security",), retries=3, timeout_s=20),
        c("network", 2, _network, depends_on=("security",), retries=2),
        c("dwcp", 2, _dwcp, depends_on=("network",)),
        c("orchestration", 3, _orchestration, _stop_orchestration, depends_on=("database", "hypervisor"), timeout_s=120),
        c("migrations", 3, _migrations, _stop_migrations, depends_on=("orchestration", "dwcp")),
        c("api", 3, _api, _stop_api, depends_on=("orchestration", "dwcp", "migrations")),
        c("monitoring", 3, _monitoring, _stop_monitoring),
        c("probing", 3, start_probing, stop_probing, depends_on=("dwcp",)),
        c("health_check", 4, _health_check, depends_on=("api",), retries=3),
        c("metrics", 4, _metrics_ready, depends_on=("monitoring",), retries=2),
        c("ready", 4, _ready, depends_on=("health_check", "metrics")),
    ]
