"""SQLite backend: the default, a WAL-mode file in data_dir.

One connection shared by all threads behind a lock: SQLite serialises writers anyway, WAL lets
other processes (the CLI) read while the agent writes, and `:memory:` keeps working for tests.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from novacron.store.base import (
    Statement,
    Store,
    check_limit,
    check_text,
    check_value,
    dump_json,
    load_json,
    redact_url,
)
from novacron.store.migrations import SCHEMA_VERSION_TABLE, pending
from novacron.store.records import Event, VmRecord, as_utc, utcnow
from novacron_sdk.errors import Unavailable

MEMORY = ":memory:"
_BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write to finish
_VM_COLUMNS = "name, spec, applied, uuid, node, meta, created_at, updated_at"


def sqlite_path_from_url(url: str) -> str:
    """`sqlite:///abs/path.db` (or `sqlite:////abs/...` as AgentConfig.store_url builds) -> path."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"store.url: not a sqlite URL: {url!r}")
    rest = url[len("sqlite://") :]
    if rest in (MEMORY, "/" + MEMORY):
        return MEMORY
    if "?" in rest or "#" in rest:
        raise ValueError(f"store.url: sqlite URLs take no query or fragment, got {url!r}")
    if not rest.startswith("/") or rest.strip("/") == "":
        raise ValueError(
            f"store.url: sqlite path must be absolute, like sqlite:///var/lib/novacron/novacron.db; got {url!r}"
        )
    return "/" + rest.lstrip("/")


def _private_file(path: Path) -> None:
    """Create the database file 0600 (its directory 0700 when we make it), whatever the umask.

    SQLite gives the -wal and -shm files the mode of the database file, and the store holds VM
    specs with cloud-init user_data: nobody but the agent's user reads them.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists() and extra.stat().st_mode & 0o077:
            os.chmod(extra, 0o600)


def _ts_text(value: datetime) -> str:
    return as_utc(value, "timestamp").isoformat(timespec="microseconds")


def _dt_text(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text), "timestamp")


class SqliteStore(Store):
    backend: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        self.path = sqlite_path_from_url(url)
        self._lock = threading.Lock()
        self._closed = False
        try:
            if self.path != MEMORY:
                _private_file(Path(self.path))
            self._db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as e:
            raise Unavailable(f"cannot open {self.url}: {e}", field="store.url") from e
        try:
            self.journal_mode = self._enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL, cheaper fsync
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    def _enable_wal(self) -> str:
        """Switch to WAL (persistent in the file). Switching needs a moment of exclusive access, and
        SQLite answers "locked" at once instead of waiting when another opener holds the file, so
        retry within the same budget as the busy timeout."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                return str(self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise Unavailable(f"cannot open {self.url}: {e}", field="store.url") from e
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    @contextmanager
    def _conn(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """Hold the lock; for writes run inside BEGIN IMMEDIATE so a failure leaves nothing behind."""
        with self._lock:
            if self._closed:
                raise Unavailable(f"store {self.url} is closed")
            try:
                if not write:
                    yield self._db
                    return
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                raise Unavailable(f"store {self.url}: {e}") from e

    def _migrate(self) -> None:
        with self._conn(write=True) as db:
            db.execute(SCHEMA_VERSION_TABLE["sqlite"])
            current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            for step in pending(current, self.url):
                for sql in step.sqlite:
                    db.execute(sql)
                db.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.name, _ts_text(utcnow())),
                )

    def schema_version(self) -> int:
        with self._conn() as db:
            return int(db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def ping(self) -> None:
        with self._conn() as db:
            db.execute("SELECT 1").fetchone()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as db:
            return list(db.execute(sql, tuple(params)).fetchall())

    def _write(self, statements: Sequence[Statement]) -> list[int]:
        with self._conn(write=True) as db:
            return [db.execute(sql, tuple(params)).rowcount for sql, params in statements]

    def _ts(self, value: datetime) -> str:
        return _ts_text(value)

    def _dt(self, value: Any) -> datetime:
        return _dt_text(value)

    # -- VMs ------------------------------------------------------------------------------------

    def _load_vms(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._conn() as db:
            if name is None:
                rows = db.execute(f"SELECT {_VM_COLUMNS} FROM vms ORDER BY name").fetchall()
            else:
                rows = db.execute(f"SELECT {_VM_COLUMNS} FROM vms WHERE name = ?", (name,)).fetchall()
        return [_vm_fields(r) for r in rows]

    def _save_vm(self, rec: VmRecord) -> None:
        params = (
            check_text(rec.name, "name"),
            dump_json(rec.spec, "spec"),
            None if rec.applied is None else dump_json(rec.applied, "applied"),
            rec.uuid,
            check_text(rec.node, "node"),
            dump_json(rec.meta, "meta"),
            _ts_text(rec.created_at),
            _ts_text(utcnow()),
        )
        with self._conn(write=True) as db:
            created, updated = db.execute(
                f"INSERT INTO vms ({_VM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, applied = excluded.applied,"
                " uuid = excluded.uuid, node = excluded.node, meta = excluded.meta,"
                " updated_at = excluded.updated_at"
                " RETURNING created_at, updated_at",
                params,
            ).fetchone()
        rec.created_at, rec.updated_at = _dt_text(created), _dt_text(updated)

    def delete_vm(self, name: str) -> bool:
        with self._conn(write=True) as db:
            return db.execute("DELETE FROM vms WHERE name = ?", (name,)).rowcount > 0

    # -- events ---------------------------------------------------------------------------------

    def add_event(self, kind: str, subject: str, detail: dict[str, Any]) -> Event:
        at = utcnow()
        params = (
            _ts_text(at),
            check_text(kind, "kind"),
            check_text(subject, "subject"),
            dump_json(detail, "detail"),
        )
        with self._conn(write=True) as db:
            cur = db.execute("INSERT INTO events (at, kind, subject, detail) VALUES (?, ?, ?, ?)", params)
            event_id = cur.lastrowid
        assert event_id is not None
        return Event(id=event_id, at=_dt_text(params[0]), kind=kind, subject=subject, detail=load_json(params[3]))

    def list_events(
        self, *, subject: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Event]:
        where, args = [], []
        if subject is not None:
            where.append("subject = ?")
            args.append(subject)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT id, at, kind, subject, detail FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._conn() as db:
            rows = db.execute(sql, (*args, check_limit(limit))).fetchall()
        return [Event(id=i, at=_dt_text(at), kind=k, subject=s, detail=load_json(d)) for i, at, k, s, d in rows]

    # -- migrations -----------------------------------------------------------------------------

    def _save_migration(self, mig_id: str, vm: str, phase: str, doc: dict[str, Any]) -> None:
        now = _ts_text(utcnow())
        params = (
            check_text(mig_id, "id"),
            check_text(vm, "vm"),
            check_text(phase, "phase"),
            dump_json(doc, "doc"),
            now,
            now,
        )
        with self._conn(write=True) as db:
            db.execute(
                "INSERT INTO migrations (id, vm, phase, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET vm = excluded.vm, phase = excluded.phase,"
                " doc = excluded.doc, updated_at = excluded.updated_at",
                params,
            )

    def _load_migrations(self, *, mig_id: str | None = None, vm: str | None = None) -> list[tuple[str, Any]]:
        sql, args = "SELECT id, doc FROM migrations", ()
        if mig_id is not None:
            sql, args = sql + " WHERE id = ?", (mig_id,)
        elif vm is not None:
            sql, args = sql + " WHERE vm = ?", (vm,)
        with self._conn() as db:
            rows = db.execute(sql + " ORDER BY rowid", args).fetchall()
        return [(i, load_json(d)) for i, d in rows]

    def delete_migration(self, mig_id: str) -> bool:
        with self._conn(write=True) as db:
            return db.execute("DELETE FROM migrations WHERE id = ?", (mig_id,)).rowcount > 0

    # -- key/value ------------------------------------------------------------------------------

    def get_kv(self, key: str) -> str | None:
        with self._conn() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_kv(self, key: str, value: str) -> None:
        params = (check_text(key, "key"), check_value(value))
        with self._conn(write=True) as db:
            db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params,
            )


def _vm_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    name, spec, applied, uuid, node, meta, created, updated = row
    return {
        "name": name, "spec": load_json(spec), "applied": None if applied is None else load_json(applied),
        "uuid": uuid, "node": node, "meta": load_json(meta),
        "created_at": _dt_text(created), "updated_at": _dt_text(updated),
    }  # fmt: skip
