"""The executable: handshake, mutual TLS, gRPC server, and a clean exit when Terraform is done.

Terraform owns our lifetime: it starts us, calls GRPCController.Shutdown (or kills us) when it
is done, and sends SIGINT to the whole process group on Ctrl-C, which we ignore because it
cancels work through StopProvider instead.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent import futures
from typing import Any

from novacron_tf import handshake


def _logging() -> None:
    level = (os.environ.get("TF_LOG_PROVIDER") or os.environ.get("TF_LOG") or "WARN").upper()
    level = {"TRACE": "DEBUG", "JSON": "DEBUG", "OFF": "CRITICAL"}.get(level, level)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level, logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")


def serve(env: dict[str, str] | None = None) -> int:
    parent = os.getppid()  # first thing: if Terraform dies early, getppid() already names init
    env = dict(os.environ if env is None else env)
    try:
        handshake.check_cookie(env)
    except handshake.HandshakeError as exc:  # a person ran it: tell them on the terminal
        print(str(exc), file=sys.stderr)
        return 1
    _logging()
    try:
        version = handshake.negotiate(env)
        started = _start(env)
    except Exception as exc:  # noqa: BLE001 - Terraform shows a non-handshake stdout line to the user
        logging.getLogger("novacron_tf").exception("provider failed to start")
        print(f"terraform-provider-novacron failed to start: {type(exc).__name__}: {exc}".replace("\n", " "),
              flush=True)
        return 1
    provider, server, front, shutdown, port, cert_der = started
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: shutdown.set())
    sys.stdout.write(handshake.handshake_line(version, "127.0.0.1", port, cert_der) + "\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr  # nothing else may reach the handshake channel

    while not shutdown.wait(0.5):
        if os.getppid() != parent:  # Terraform died without Shutdown (SIGKILL): do not linger
            logging.getLogger("novacron_tf").warning("parent process %d is gone; exiting", parent)
            break
    provider.stop()
    server.stop(grace=2).wait(5)
    if front is not None:
        front.stop()
    return 0


def _start(env: dict[str, str]) -> tuple[Any, Any, Any, threading.Event, int, bytes | None]:
    """Provider, gRPC server and (with AutoMTLS) the TLS front, listening; nothing printed yet."""
    import grpc

    from novacron_tf.plugin_services import add_plugin_services
    from novacron_tf.protos import stubs
    from novacron_tf.provider import Provider
    from novacron_tf.tls import load_client_cert, make_server_cert
    from novacron_tf.tls_front import TlsFront

    pb = stubs()
    shutdown = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="tfplugin"))
    provider = Provider()
    pb.pb_grpc.add_ProviderServicer_to_server(provider, server)
    add_plugin_services(server, pb, shutdown)
    client_pem = env.get("PLUGIN_CLIENT_CERT")
    if not client_pem:  # TF_DISABLE_PLUGIN_TLS: Terraform sends no certificate and expects plaintext
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        return provider, server, None, shutdown, port, None
    # AutoMTLS: OpenSSL does the TLS in front of a private plaintext gRPC socket (tls_front.py)
    cert = make_server_cert()
    front = TlsFront(cert, load_client_cert(client_pem))
    os.chmod(front.workdir, 0o700)
    server.add_insecure_port(f"unix:{front.backend}")
    server.start()
    return provider, server, front, shutdown, front.start(), cert.cert_der
