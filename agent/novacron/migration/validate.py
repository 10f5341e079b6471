"""Checks a migration request must pass before anything moves, each failing with the field and why.

Order: the destination must be a known peer (422), the VM must be here (404), not already moving
(409), in a state the kind of migration can take (409), without node-local storage (409). The
destination's capacity is checked by the destination itself (a dry-run prepare, see incoming.py).
"""

from __future__ import annotations

from novacron.config.model import AgentConfig
from novacron.migration.machine import DomainState
from novacron.store import VmRecord
from novacron_sdk.errors import Conflict, InvalidInput, NotFound, Unavailable
from novacron_sdk.models.migration import MigrationRequest


def check_destination(config: AgentConfig, req: MigrationRequest) -> None:
    me = config.system.node_id
    if req.destination == me:
        raise InvalidInput(f"VM {req.vm!r} would move to the node it is on ({me})", field="destination")
    peer = next((p for p in config.peers if p.node_id == req.destination), None)
    known = ", ".join(sorted(p.node_id for p in config.peers)) or "none configured"
    if peer is None:
        raise InvalidInput(f"unknown node {req.destination!r} (known peers: {known})", field="destination")
    if not peer.dwcp_address:
        raise InvalidInput(
            f"peer {req.destination!r} has no dwcp_address in this agent's config", field="destination"
        )
    if req.options.allow_postcopy:
        raise InvalidInput(
            "post-copy is not supported over DWCP (its page requests need a low-latency return path); "
            "a live migration that cannot converge is throttled by auto-converge instead",
            field="options.allow_postcopy",
        )
    dw = config.dwcp
    if dw.tls_cert is None or dw.tls_key is None or dw.tls_ca is None:
        raise Unavailable(
            "migrations need mutual TLS between agents: set dwcp.tls_cert, dwcp.tls_key and dwcp.tls_ca",
            field="dwcp.tls_cert",
        )


def check_vm(
    req: MigrationRequest, rec: VmRecord | None, node: str, state: DomainState, moving: str | None
) -> None:
    if rec is None or rec.node != node or state == "missing":
        raise NotFound(f"no VM named {req.vm!r} on node {node}", field="vm")
    if moving is not None:
        raise Conflict(f"VM {req.vm!r} is already being migrated (migration {moving})", field="vm")
    if req.options.live and state != "running":
        raise Conflict(
            f"VM {req.vm!r} is {state}: a live migration needs it running "
            "(start it, or send options.live=false for a paused VM)",
            field="options.live",
        )
    if state not in ("running", "paused"):
        raise Conflict(f"VM {req.vm!r} is {state}: only a running or paused VM can be migrated", field="vm")
    spec = rec.applied or rec.spec
    disks = [d.get("name") for d in spec.get("disks") or []]
    if disks:
        raise Conflict(
            f"VM {req.vm!r} has node-local disks ({', '.join(map(str, disks))}); storage migration is not "
            "implemented, only diskless (kernel-boot or network-storage) VMs can move",
            field="vm",
        )
    if spec.get("cloud_init"):
        raise Conflict(
            f"VM {req.vm!r} has a node-local cloud-init seed ISO; it cannot move without storage migration",
            field="vm",
        )
