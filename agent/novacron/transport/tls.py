"""Mutual TLS for DWCP: both agents present a certificate signed by the cluster CA."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import NamedTuple

from novacron_sdk.errors import InvalidInput


class TlsContexts(NamedTuple):
    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls_contexts(
    ca_cert: str | Path, cert: str | Path, key: str | Path, *, check_hostname: bool = True
) -> TlsContexts:
    """Server and client contexts that both require a peer certificate chained to `ca_cert`.

    check_hostname=False trusts any certificate of the CA whatever its name (for node certificates
    issued without the address the peer dials).
    """
    for field, path in (("ca_cert", ca_cert), ("cert", cert), ("key", key)):
        if not Path(path).is_file():
            raise InvalidInput(f"file {path} does not exist", field=field)
    try:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for ctx in (server, client):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(cert), str(key))
            ctx.load_verify_locations(cafile=str(ca_cert))
            ctx.verify_mode = ssl.CERT_REQUIRED
    except ssl.SSLError as exc:
        raise InvalidInput(f"certificate, key or CA cannot be loaded: {exc}", field="cert") from exc
    client.check_hostname = check_hostname
    return TlsContexts(server, client)
