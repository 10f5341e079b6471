"""What a credential may call: client scopes per route, and the peer routes only nodes may call.

Three client scopes, each including the ones before it: `read` (every GET), `operate` (converge
VMs, migrate, set the DWCP mode: every other method), `admin` (tokens, the audit log, the store's
quarantine). The peer API (`/api/v1/peer/`) takes node credentials only (node_assertion.py), and
node credentials are taken nowhere else: a node is not a client, and a client is not a node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from novacron_sdk.models.access import Scope

SCOPES: tuple[Scope, ...] = ("read", "operate", "admin")
_INCLUDES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "operate": frozenset({"read", "operate"}),
    "admin": frozenset({"read", "operate", "admin"}),
}
API_PREFIX = "/api/v1/"
PEER_PREFIX = "/api/v1/peer/"
ADMIN_PREFIXES = ("/api/v1/tokens", "/api/v1/audit", "/api/v1/store/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """Who made a request, as its credential proves: a client token, or a node certificate."""

    kind: Literal["client", "node"]
    subject: str
    token_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    node: str | None = None

    @property
    def who(self) -> str:
        return f"node:{self.node}" if self.kind == "node" else self.subject


@dataclass(frozen=True)
class Access:
    kind: Literal["client", "node"]
    scope: Scope | None = None


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope a token's scopes include; names we do not know grant nothing."""
    out: set[str] = set()
    for s in scopes:
        out |= _INCLUDES.get(s, frozenset())
    return frozenset(out)


def access_for(method: str, path: str) -> Access:
    """What calling `method path` needs (paths under /api/v1/)."""
    if path.startswith(PEER_PREFIX):
        return Access("node")
    if path.startswith(ADMIN_PREFIXES):
        return Access("client", "admin")
    return Access("client", "read" if method.upper() in READ_METHODS else "operate")


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes given as names or comma-separated lists; ValueError naming an unknown one."""
    out: list[Scope] = []
    for value in values:
        for name in (v.strip() for v in value.split(",")):
            if not name:
                continue
            if name not in SCOPES:
                raise ValueError(f"unknown scope {name!r} (one of: {', '.join(SCOPES)})")
            if name not in out:
                out.append(name)  # type: ignore[arg-type]
    return out
