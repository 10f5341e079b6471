"""The mutual-TLS front door: OpenSSL terminates Terraform's TLS, gRPC serves plaintext behind it.

Why not gRPC's own TLS: go-plugin's client certificate is ECDSA P-521, and the BoringSSL inside
grpcio does not list `ecdsa_secp521r1_sha512` among the signature algorithms it accepts, so Go
finds no usable client certificate, sends none, and the handshake fails
(PEER_DID_NOT_RETURN_A_CERTIFICATE). Python's `ssl` (OpenSSL) accepts it. So an asyncio server
on 127.0.0.1 does the TLS (client certificate required and pinned to the one Terraform passed,
ALPN h2) and splices each connection to the gRPC server on a private unix socket (mode 0600, in
a 0700 temporary directory) — the only listener reachable from outside is the TLS one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
import threading
from pathlib import Path

from novacron_tf.tls import ServerCert

CHUNK = 256 * 1024


def server_context(cert: ServerCert, client_cert_pem: bytes, workdir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert_file, key_file = workdir / "server.crt", workdir / "server.key"
    cert_file.write_bytes(cert.cert_pem)
    key_file.touch(mode=0o600)
    key_file.write_bytes(cert.key_pem)
    ctx.load_cert_chain(cert_file, key_file)
    key_file.unlink()
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=client_cert_pem.decode())
    ctx.set_alpn_protocols(["h2"])
    return ctx


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


class TlsFront:
    """Accept TLS on 127.0.0.1:<port>, forward plaintext to `backend` (a unix socket path)."""

    def __init__(self, cert: ServerCert, client_cert_pem: bytes) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="novacron-tf-")
        self.workdir = Path(self._tmp.name)
        self.backend = str(self.workdir / "grpc.sock")
        self._ctx = server_context(cert, client_cert_pem, self.workdir)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-front", daemon=True)
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_unix_connection(self.backend)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, b_writer), _pipe(b_reader, writer))
        for w in (writer, b_writer):
            with contextlib.suppress(Exception):
                w.close()

    def start(self) -> int:
        async def listen() -> int:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ctx)
            return int(self._server.sockets[0].getsockname()[1])

        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        return self.port

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(2)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2)
        self._tmp.cleanup()
