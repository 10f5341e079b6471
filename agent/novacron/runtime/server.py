"""Serve the FastAPI app with uvicorn inside the agent's event loop (HTTP, or HTTPS with a cert)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from novacron.api.app import create_app
from novacron.api.services import AgentServices
from novacron.auth.authenticator import Authenticator


@dataclass
class ApiServer:
    server: uvicorn.Server
    task: asyncio.Task[Any]
    url: str
    ca_file: Path | None

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, timeout=10)


# Idle keep-alive connections stay open this long; clients (the peer agents: migration/peer.py)
# must drop theirs sooner, or a request can meet the server's close on the way.
KEEPALIVE_S = 60


async def start_api_server(svc: AgentServices, authenticator: Authenticator) -> ApiServer:
    cfg = svc.config
    app = create_app(svc, authenticator)
    tls = cfg.api.tls_cert is not None
    config = uvicorn.Config(
        app,
        host=cfg.api.listen_address,
        port=cfg.api.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ssl_certfile=str(cfg.api.tls_cert) if tls else None,
        ssl_keyfile=str(cfg.api.tls_key) if tls else None,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEPALIVE_S,
    )
    sock = _bind(cfg.api.listen_address, cfg.api.port)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the agent owns signals
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            raise RuntimeError(f"api: server stopped during start-up: {task.exception()!r}")
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    host = cfg.api.listen_address
    host = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    return ApiServer(server, task, url, cfg.api.tls_cert if tls else None)


def _bind(host: str, port: int) -> socket.socket:
    """Bind ourselves: a clear error naming api.port instead of uvicorn's sys.exit, and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted sockets only then,
    # and without it every keep-alive response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"api.port: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(256)
    sock.setblocking(False)
    return sock
