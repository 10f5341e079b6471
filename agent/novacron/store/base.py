"""The store interface every backend implements, plus the checks they share.

The agent calls the store from asyncio code through `asyncio.to_thread`, so every backend must be
safe to call from several threads at once; both serialise on one connection behind a lock, which
is plenty for an agent's write rate and keeps `:memory:` SQLite usable in tests.
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from novacron.store.checks import RecordProblem, check_migration, check_vm
from novacron.store.records import AuditEntry, Event, Quarantined, Revocation, VmRecord, utcnow
from novacron_sdk.errors import InvalidInput

log = logging.getLogger("novacron.store")
Statement = tuple[str, Sequence[Any]]

MAX_EVENT_LIMIT = 10_000
# json.dumps writes NUL as \u0000; an odd run of backslashes before it means a real NUL, not text.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class Store(ABC):
    """Durable agent state: VMs, the event log, migrations and a small key/value table.

    `url` is the URL the store was opened with, password masked (safe to log or show).
    """

    url: str
    backend: Literal["sqlite", "postgresql"]

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ping(self) -> None:
        """Cheap liveness check for /health; raises `Unavailable` when the database is unreachable."""

    # -- dialect hooks: SQL uses `?` placeholders; each backend runs it in its own way ----------
    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read and return every row."""

    @abstractmethod
    def _write(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements in one transaction; their row counts."""

    @abstractmethod
    def _ts(self, value: datetime) -> Any:
        """A timestamp as this backend stores it."""

    @abstractmethod
    def _dt(self, value: Any) -> datetime:
        """A stored timestamp back as a tz-aware datetime."""

    # -- VMs: raw rows from the backend, checked here ---------------------------------------------
    @abstractmethod
    def _load_vms(self, name: str | None = None) -> list[dict[str, Any]]:
        """VM rows (all, or the one named) as VmRecord keyword arguments, ordered by name."""

    @abstractmethod
    def _save_vm(self, rec: VmRecord) -> None: ...

    def get_vm(self, name: str) -> VmRecord | None:
        found = [r for r in map(self._checked_vm, self._load_vms(name)) if r is not None]
        return found[0] if found else None

    def list_vms(self) -> list[VmRecord]:
        """All VMs, ordered by name (records that fail their checks are quarantined, not listed)."""
        return [r for r in map(self._checked_vm, self._load_vms()) if r is not None]

    def put_vm(self, rec: VmRecord) -> None:
        """Insert or replace by name; refreshes `updated_at`, keeps the first `created_at`.

        The spec and applied spec must be valid `VirtualMachineSpec`s: InvalidInput names the field.
        """
        try:
            check_vm(rec)
        except RecordProblem as exc:
            raise InvalidInput(exc.message, field=f"record.{exc.field}") from None
        self._save_vm(rec)

    def _checked_vm(self, raw: dict[str, Any]) -> VmRecord | None:
        try:
            rec = VmRecord(**raw)
            check_vm(rec)
        except (TypeError, ValueError) as exc:
            self.quarantine("vm", str(raw.get("name")), raw, str(exc), ("DELETE FROM vms WHERE name = ?", (raw.get("name"),)))
            return None
        return rec

    @abstractmethod
    def delete_vm(self, name: str) -> bool:
        """True when a row was deleted."""

    @abstractmethod
    def add_event(self, kind: str, subject: str, detail: dict[str, Any]) -> Event: ...

    @abstractmethod
    def list_events(
        self, *, subject: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Event]:
        """Newest first, at most `limit`."""

    # -- migrations -------------------------------------------------------------------------------
    @abstractmethod
    def _save_migration(self, mig_id: str, vm: str, phase: str, doc: dict[str, Any]) -> None: ...

    @abstractmethod
    def _load_migrations(self, *, mig_id: str | None = None, vm: str | None = None) -> list[tuple[str, Any]]:
        """(id, doc) rows in first-insert order."""

    def put_migration(self, mig_id: str, vm: str, phase: str, doc: dict[str, Any]) -> None:
        """Insert or replace by id; `doc` must be a valid Migration with this id, vm and phase."""
        try:
            m = check_migration(doc, mig_id)
        except RecordProblem as exc:
            raise InvalidInput(exc.message, field=f"migration.{exc.field}") from None
        if (m.vm, m.phase) != (vm, phase):
            raise InvalidInput(f"the document says {m.vm}/{m.phase}, not {vm}/{phase}", field="migration")
        self._save_migration(mig_id, vm, phase, doc)

    def get_migration(self, mig_id: str) -> dict[str, Any] | None:
        found = [d for d in map(self._checked_migration, self._load_migrations(mig_id=mig_id)) if d is not None]
        return found[0] if found else None

    def list_migrations(self, *, vm: str | None = None) -> list[dict[str, Any]]:
        """Docs in first-insert order, optionally only those of one VM."""
        return [d for d in map(self._checked_migration, self._load_migrations(vm=vm)) if d is not None]

    def _checked_migration(self, row: tuple[str, Any]) -> dict[str, Any] | None:
        mig_id, doc = row
        try:
            check_migration(doc, mig_id)
        except RecordProblem as exc:
            self.quarantine("migration", mig_id, doc, str(exc), ("DELETE FROM migrations WHERE id = ?", (mig_id,)))
            return None
        return doc  # type: ignore[no-any-return]

    @abstractmethod
    def delete_migration(self, mig_id: str) -> bool:
        """Remove a migration that never started (its request was refused); False when absent."""

    @abstractmethod
    def get_kv(self, key: str) -> str | None: ...

    @abstractmethod
    def set_kv(self, key: str, value: str) -> None: ...

    # -- quarantine: records that no longer pass their checks ---------------------------------------
    def quarantine(self, kind: str, key: str, raw: Any, reason: str, remove: Statement | None = None) -> None:
        """Move a record that fails its checks aside (and out of its table), with the reason."""
        text = json.dumps(raw, default=str, ensure_ascii=True)
        log.error("store: %s record %r is unreadable (%s); quarantined it, the agent goes on without it", kind, key, reason)
        statements: list[Statement] = [(
            "INSERT INTO quarantine (at, kind, key, reason, raw) VALUES (?, ?, ?, ?, ?)",
            (self._ts(utcnow()), kind, key[:256], reason[:2000], text),
        )]  # fmt: skip
        if remove is not None:
            statements.append(remove)
        self._write(statements)
        self._quarantined = None

    def list_quarantined(self) -> list[Quarantined]:
        rows = self._rows("SELECT id, at, kind, key, reason, raw FROM quarantine ORDER BY id")
        return [Quarantined(id=i, at=self._dt(at), kind=k, key=key, reason=r, raw=raw) for i, at, k, key, r, raw in rows]

    def count_quarantined(self) -> int:
        """How many records are set aside (counted once, then kept up to date by this process)."""
        cached = getattr(self, "_quarantined", None)
        if cached is None:
            cached = self._quarantined = int(self._rows("SELECT COUNT(*) FROM quarantine")[0][0])
        return int(cached)

    def drop_quarantined(self, item_id: int) -> bool:
        """Forget a quarantined record (an operator dealt with it)."""
        dropped = self._write([("DELETE FROM quarantine WHERE id = ?", (item_id,))])[0] > 0
        self._quarantined = None
        return dropped

    # -- revoked client tokens ------------------------------------------------------------------------
    def revoke_token(self, token_id: str, *, expires_at: datetime, reason: str, by: str) -> bool:
        """Record `token_id` as revoked until `expires_at` (after which it is refused anyway)."""
        check_text(token_id, "token_id")
        sql = ("INSERT INTO revoked_tokens (token_id, revoked_at, expires_at, reason, revoked_by) VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT (token_id) DO NOTHING")  # fmt: skip
        params = (token_id, self._ts(utcnow()), self._ts(expires_at), check_value(reason, "reason"), by)
        return self._write([(sql, params)])[0] > 0

    def list_revoked(self) -> list[Revocation]:
        rows = self._rows("SELECT token_id, revoked_at, expires_at, reason, revoked_by FROM revoked_tokens ORDER BY revoked_at")
        return [Revocation(t, self._dt(at), self._dt(exp), reason, by) for t, at, exp, reason, by in rows]

    def prune_revoked(self, now: datetime) -> int:
        return self._write([("DELETE FROM revoked_tokens WHERE expires_at < ?", (self._ts(now),))])[0]

    # -- audit log -------------------------------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        sql = ("INSERT INTO audit (at, principal, token_id, method, path, status, source)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
        self._write([(sql, (self._ts(entry.at), entry.principal, entry.token_id, entry.method, entry.path,
                            entry.status, entry.source))])  # fmt: skip

    def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        rows = self._rows(
            "SELECT id, at, principal, token_id, method, path, status, source FROM audit ORDER BY id DESC LIMIT ?",
            (check_limit(limit),),
        )
        return [AuditEntry(self._dt(at), p, t, m, path, st, src, id=i) for i, at, p, t, m, path, st, src in rows]

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def dump_json(value: Any, field: str) -> str:
    """Encode strictly, so both backends store the same thing (PostgreSQL rejects NaN/Infinity)."""
    if not isinstance(value, dict):
        raise InvalidInput(f"expected a JSON object (dict), got {type(value).__name__}", field=field)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"not JSON-serialisable: {e}", field=field) from e
    if _NUL_ESCAPE.search(text):  # PostgreSQL text/JSONB cannot hold NUL; refuse it everywhere
        raise InvalidInput("must not contain NUL characters", field=field)
    return text


def load_json(value: Any) -> Any:
    """SQLite gives text, psycopg already decoded JSONB."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def check_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"must be a non-empty string, got {value!r}", field=field)
    if "\x00" in value:
        raise InvalidInput("must not contain NUL characters", field=field)
    return value


def check_value(value: Any, field: str = "value") -> str:
    """A kv value: any string, empty allowed, but no NUL (PostgreSQL text cannot hold one)."""
    if not isinstance(value, str):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", field=field)
    if "\x00" in value:
        raise InvalidInput("must not contain NUL characters", field=field)
    return value


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENT_LIMIT:
        raise InvalidInput(
            f"must be an integer between 1 and {MAX_EVENT_LIMIT}, got {limit!r}", field="limit"
        )
    return limit


def redact_url(url: str) -> str:
    """Mask the password of a URL; anything unparsable is returned as is (it holds no netloc)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
