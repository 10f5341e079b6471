"""go-plugin's handshake, as pure functions: who may start us, which protocol, and the line to print.

Terraform starts the provider with the magic cookie and the protocol versions it speaks in the
environment, then reads ONE line from our stdout:
`CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT` — core version 1, app (plugin
protocol) version 6, `tcp`, `127.0.0.1:PORT`, `grpc`, and our TLS certificate as base64 DER
without padding (Go's RawStdEncoding). Everything else the client learns over gRPC.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (6,)  # tfplugin6.0: what Terraform 1.0 speaks; 5 is not needed there


class HandshakeError(Exception):
    """The environment does not describe a Terraform that can use this provider."""


def check_cookie(env: Mapping[str, str]) -> None:
    if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        raise HandshakeError(
            "This binary is a Terraform plugin (terraform-provider-novacron). It is not meant to be "
            "executed directly: Terraform starts it. See terraform_provider/README.md."
        )


def negotiate(env: Mapping[str, str]) -> int:
    """The highest protocol version both sides speak (PLUGIN_PROTOCOL_VERSIONS, e.g. "5,6")."""
    offered_raw = env.get("PLUGIN_PROTOCOL_VERSIONS", "")
    offered = {int(v) for v in offered_raw.split(",") if v.strip().isdigit()}
    if not offered:  # a client that predates versioned plugins speaks its single configured version
        return SUPPORTED_VERSIONS[-1]
    common = offered.intersection(SUPPORTED_VERSIONS)
    if not common:
        raise HandshakeError(
            f"terraform-provider-novacron speaks plugin protocol {', '.join(map(str, SUPPORTED_VERSIONS))}; "
            f"this Terraform offers {offered_raw}. Use Terraform 1.0 or later."
        )
    return max(common)


def handshake_line(version: int, host: str, port: int, server_cert_der: bytes | None) -> str:
    cert = base64.b64encode(server_cert_der).decode().rstrip("=") if server_cert_der else ""
    line = f"{CORE_PROTOCOL_VERSION}|{version}|tcp|{host}:{port}|grpc"
    return f"{line}|{cert}" if cert else line


def parse_handshake_line(line: str) -> dict[str, object]:
    """The inverse, as Terraform reads it (tests and tooling use it)."""
    parts = line.strip().split("|")
    if len(parts) < 5:
        raise HandshakeError(f"unrecognized remote plugin message: {line.strip()!r}")
    host, _, port = parts[3].rpartition(":")
    cert = parts[5] if len(parts) > 5 else ""
    der = base64.b64decode(cert + "=" * (-len(cert) % 4)) if cert else None
    return {"core": int(parts[0]), "version": int(parts[1]), "network": parts[2], "host": host,
            "port": int(port), "protocol": parts[4], "cert_der": der}
