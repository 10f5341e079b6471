"""Which probe endpoints to measure: the configured peers, resolved to host and port.

A peer's endpoint is its `probe_address` when given; otherwise the host of its `dwcp_address`
(else of its `api_url`) with this node's own probe port -- clusters are usually configured alike.
A peer whose endpoint cannot be known is skipped with the reason, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from novacron.config.model import AgentConfig, DwcpConfig, PeerConfig
from novacron_sdk.errors import InvalidInput


@dataclass(frozen=True)
class ProbeTarget:
    node_id: str
    host: str
    port: int


def probe_port(dwcp: DwcpConfig) -> int:
    """The port this node's probe endpoint listens on (0: any free port)."""
    if dwcp.probe.port is not None:
        return dwcp.probe.port
    if dwcp.listen_port == 0:
        return 0
    if dwcp.listen_port == 65535:
        raise InvalidInput("dwcp.listen_port is 65535, so listen_port + 1 does not exist; set it", field="dwcp.probe.port")
    return dwcp.listen_port + 1


def _split(address: str, field: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidInput(f"must look like HOST:PORT with a port 1..65535, got {address!r}", field=field)
    return host.strip("[]"), int(port)


def target_for(peer: PeerConfig, index: int, own_port: int) -> ProbeTarget:
    """Resolve one peer; InvalidInput names the config field when it cannot be done."""
    where = f"peers[{index}]"
    if peer.probe_address:
        host, port = _split(peer.probe_address, f"{where}.probe_address")
        return ProbeTarget(peer.node_id, host, port)
    if peer.dwcp_address:
        host = _split(peer.dwcp_address, f"{where}.dwcp_address")[0]
    else:
        host = urlsplit(peer.api_url).hostname or ""
        if not host:
            raise InvalidInput(f"has no host: {peer.api_url!r}", field=f"{where}.api_url")
    if own_port == 0:
        raise InvalidInput(
            "is needed: this node's probe port is ephemeral, so the peer's cannot be assumed equal",
            field=f"{where}.probe_address",
        )
    return ProbeTarget(peer.node_id, host, own_port)


def resolve_targets(config: AgentConfig) -> tuple[list[ProbeTarget], list[InvalidInput]]:
    """Targets for every peer other than this node, and the reasons peers were skipped."""
    own = probe_port(config.dwcp)
    targets: list[ProbeTarget] = []
    skipped: list[InvalidInput] = []
    seen: set[str] = set()
    for i, peer in enumerate(config.peers):
        if peer.node_id == config.system.node_id:
            continue
        if peer.node_id in seen:
            skipped.append(InvalidInput(f"{peer.node_id!r} is listed twice", field=f"peers[{i}].node_id"))
            continue
        seen.add(peer.node_id)
        try:
            targets.append(target_for(peer, i, own))
        except InvalidInput as exc:
            skipped.append(exc)
    return targets, skipped
