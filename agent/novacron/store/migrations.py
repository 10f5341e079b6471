"""Versioned schema: an ordered list of steps, each with SQL per backend.

The database records every applied step in `schema_version`; opening a store applies the steps
above the recorded version, inside the backend's lock, so reopening is a no-op and two agents
opening at once do not race. A database whose version is above the newest step here was written
by newer code: we refuse it instead of guessing what its tables mean.

To change the schema, append a step (never edit an applied one) with SQL for both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novacron_sdk.errors import Unavailable

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class SchemaStep:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def sql(self, backend: Backend) -> tuple[str, ...]:
        return self.sqlite if backend == "sqlite" else self.postgresql


class SchemaTooNew(Unavailable):
    """The database was migrated by a newer agent; opening it with this code could corrupt it."""

    def __init__(self, url: str, found: int, known: int) -> None:
        super().__init__(
            f"database {url} has schema version {found}, but this agent only knows versions up to "
            f"{known}; upgrade novacron-agent or point store.url at another database",
            field="store.url",
        )
        self.found = found
        self.known = known


# The bookkeeping table itself is created outside the numbered steps: it is what numbers them.
SCHEMA_VERSION_TABLE: dict[Backend, str] = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    ),
}

STEPS: tuple[SchemaStep, ...] = (
    SchemaStep(
        version=1,
        name="vms, events, migrations, kv",
        sqlite=(
            "CREATE TABLE vms ("
            " name TEXT PRIMARY KEY, spec TEXT NOT NULL, applied TEXT, uuid TEXT,"
            " node TEXT NOT NULL, meta TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE TABLE events ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
            " kind TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE INDEX events_subject ON events (subject, id)",
            "CREATE INDEX events_kind ON events (kind, id)",
            "CREATE TABLE migrations ("
            " id TEXT PRIMARY KEY, vm TEXT NOT NULL, phase TEXT NOT NULL, doc TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX migrations_vm ON migrations (vm)",
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
        postgresql=(
            "CREATE TABLE vms ("
            " name TEXT PRIMARY KEY, spec JSONB NOT NULL, applied JSONB, uuid TEXT,"
            " node TEXT NOT NULL, meta JSONB NOT NULL,"
            " created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE events ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ NOT NULL,"
            " kind TEXT NOT NULL, subject TEXT NOT NULL, detail JSONB NOT NULL)",
            "CREATE INDEX events_subject ON events (subject, id)",
            "CREATE INDEX events_kind ON events (kind, id)",
            # seq keeps list order = first-insert order, as SQLite's rowid does.
            "CREATE TABLE migrations ("
            " id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,"
            " vm TEXT NOT NULL, phase TEXT NOT NULL, doc JSONB NOT NULL,"
            " created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
            "CREATE INDEX migrations_vm ON migrations (vm)",
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    SchemaStep(
        version=2,
        name="revoked tokens, audit log, quarantine",
        sqlite=(
            "CREATE TABLE revoked_tokens ("
            " token_id TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
            " reason TEXT NOT NULL, revoked_by TEXT NOT NULL)",
            "CREATE TABLE audit ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, principal TEXT NOT NULL,"
            " token_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,"
            " source TEXT NOT NULL)",
            "CREATE TABLE quarantine ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,"
            " key TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL)",
        ),
        postgresql=(
            "CREATE TABLE revoked_tokens ("
            " token_id TEXT PRIMARY KEY, revoked_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL,"
            " reason TEXT NOT NULL, revoked_by TEXT NOT NULL)",
            "CREATE TABLE audit ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ NOT NULL,"
            " principal TEXT NOT NULL, token_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL,"
            " status INTEGER NOT NULL, source TEXT NOT NULL)",
            "CREATE TABLE quarantine ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ NOT NULL,"
            " kind TEXT NOT NULL, key TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL)",
        ),
    ),
)

LATEST_VERSION: int = STEPS[-1].version


def pending(current: int, url: str, steps: tuple[SchemaStep, ...] | None = None) -> list[SchemaStep]:
    """Steps to apply to a database at `current`; refuses a database newer than `steps`.

    `steps` defaults to the module's STEPS read at call time (tests extend it to rehearse an upgrade).
    """
    if steps is None:
        steps = STEPS
    _check_order(steps)
    known = steps[-1].version if steps else 0
    if current > known:
        raise SchemaTooNew(url, current, known)
    return [s for s in steps if s.version > current]


def _check_order(steps: tuple[SchemaStep, ...]) -> None:
    versions = [s.version for s in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise AssertionError(f"schema steps must be numbered 1..n without gaps, got {versions}")


_check_order(STEPS)
