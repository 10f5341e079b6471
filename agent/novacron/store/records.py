"""The rows the store keeps, as plain dataclasses so callers never see SQL types.

Timestamps are always tz-aware UTC: both backends hand back the instant that went in, and a
naive datetime is refused at construction rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime, field_name: str) -> datetime:
    """Normalise to UTC; a naive datetime has no defined instant, so it is an error."""
    if not isinstance(value, datetime):
        raise TypeError(f"{field_name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{field_name}: datetime must be timezone-aware (UTC), got naive {value.isoformat()}"
        )
    return value.astimezone(UTC)


@dataclass
class VmRecord:
    """What the agent remembers about one VM: desired spec, last applied spec, owned resources.

    `spec`/`applied` are `VirtualMachineSpec.model_dump(mode="json")` dicts; `meta` is free-form
    bookkeeping (volume paths, seed ISO...). `put_vm` refreshes `updated_at` and, on update, keeps
    the stored `created_at`; it writes both back into the record it was given.
    """

    name: str
    spec: dict[str, Any]
    applied: dict[str, Any] | None
    uuid: str | None
    node: str
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: must be a non-empty string, got {self.name!r}")
        if not isinstance(self.node, str) or not self.node:
            raise ValueError(f"node: must be a non-empty string, got {self.node!r}")
        if self.uuid is not None and not isinstance(self.uuid, str):
            raise TypeError(f"uuid: expected a str or None, got {type(self.uuid).__name__}")
        if not isinstance(self.spec, dict):
            raise TypeError(f"spec: expected a dict, got {type(self.spec).__name__}")
        if self.applied is not None and not isinstance(self.applied, dict):
            raise TypeError(f"applied: expected a dict or None, got {type(self.applied).__name__}")
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta: expected a dict, got {type(self.meta).__name__}")
        self.created_at = as_utc(self.created_at, "created_at")
        self.updated_at = as_utc(self.updated_at, "updated_at")


@dataclass(frozen=True)
class Event:
    """One entry of the append-only event log; `id` grows with insertion order."""

    id: int
    at: datetime
    kind: str
    subject: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Revocation:
    """A client token refused before its expiry; kept until then."""

    token_id: str
    revoked_at: datetime
    expires_at: datetime
    reason: str
    revoked_by: str


@dataclass(frozen=True)
class AuditEntry:
    """One mutating API call: who (the credential's subject), what, and how it ended. No bodies."""

    at: datetime
    principal: str
    token_id: str | None
    method: str
    path: str
    status: int
    source: str
    id: int | None = None


@dataclass(frozen=True)
class Quarantined:
    """A stored record that failed its checks when read back, moved aside with the reason."""

    id: int
    at: datetime
    kind: str
    key: str
    reason: str
    raw: str
