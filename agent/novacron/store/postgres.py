"""PostgreSQL backend (psycopg 3), for nodes that keep state in a shared database.

One connection behind a lock, reopened on the next call after the server dropped it: the agent's
write rate is low, and a lock is the simplest way to be safe under `asyncio.to_thread`. Each
store lives in the first schema of the connection's search_path, so tests (or several agents)
can share one database by passing `?options=-csearch_path%3D<schema>`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import psycopg

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

_VM_COLUMNS = "name, spec, applied, uuid, node, meta, created_at, updated_at"


class PostgresStore(Store):
    backend: Literal["sqlite", "postgresql"] = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"store.url: not a postgresql:// URL: {redact_url(url)!r}")
        self.url = redact_url(url)
        self._dsn = url
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in url:
            self._kwargs["connect_timeout"] = connect_timeout_s
        if "application_name" not in url:
            self._kwargs["application_name"] = "novacron-agent"
        self._lock = threading.Lock()
        self._closed = False
        self._pg: psycopg.Connection[Any] | None = None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._pg is not None and not self._pg.closed and not self._pg.broken:
            return self._pg
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        try:
            pg = psycopg.connect(self._dsn, **self._kwargs)
        except psycopg.Error as e:
            raise Unavailable(f"cannot connect to {self.url}: {e}", field="store.url") from e
        encoding = pg.execute("SHOW server_encoding").fetchone()
        if encoding is None or str(encoding[0]).upper() not in ("UTF8", "UTF-8"):
            pg.close()
            raise Unavailable(
                f"database {self.url} uses encoding {encoding and encoding[0]}; the store needs UTF8",
                field="store.url",
            )
        self._pg = pg
        return pg

    @contextmanager
    def _conn(self, *, write: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """Hold the lock; writes run in one transaction. A lost server surfaces as `Unavailable`."""
        with self._lock:
            if self._closed:
                raise Unavailable(f"store {self.url} is closed")
            try:
                pg = self._connection()
                if write:
                    with pg.transaction():
                        yield pg
                else:
                    yield pg
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                raise Unavailable(f"store {self.url}: {e}") from e

    def _migrate(self) -> None:
        try:
            with self._conn(write=True) as pg:
                # Serialise concurrent openers of the same schema; released at commit.
                pg.execute("SELECT pg_advisory_xact_lock(hashtext('novacron.schema:' || current_schema()))")
                pg.execute(SCHEMA_VERSION_TABLE["postgresql"])
                row = pg.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
                assert row is not None
                for step in pending(int(row[0]), self.url):
                    for sql in step.postgresql:
                        pg.execute(sql)  # constant SQL from migrations.py
                    pg.execute(
                        "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                        (step.version, step.name, utcnow()),
                    )
        except psycopg.Error as e:
            raise Unavailable(f"cannot prepare the schema in {self.url}: {e}", field="store.url") from e

    def schema_version(self) -> int:
        with self._conn() as pg:
            row = pg.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pg is not None:
                self._pg.close()
                self._pg = None

    def ping(self) -> None:
        with self._conn() as pg:
            pg.execute("SELECT 1").fetchone()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as pg:
            return list(pg.execute(_pg(sql), tuple(params)).fetchall())

    def _write(self, statements: Sequence[Statement]) -> list[int]:
        with self._conn(write=True) as pg:
            return [pg.execute(_pg(sql), tuple(params)).rowcount for sql, params in statements]

    def _ts(self, value: datetime) -> datetime:
        return as_utc(value, "timestamp")

    def _dt(self, value: Any) -> datetime:
        return as_utc(value, "timestamp")

    # -- VMs ------------------------------------------------------------------------------------

    def _load_vms(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._conn() as pg:
            if name is None:
                rows = pg.execute(f'SELECT {_VM_COLUMNS} FROM vms ORDER BY name COLLATE "C"').fetchall()
            else:
                rows = pg.execute(f"SELECT {_VM_COLUMNS} FROM vms WHERE name = %s", (name,)).fetchall()
        return [_vm_fields(r) for r in rows]

    def _save_vm(self, rec: VmRecord) -> None:
        params = (
            check_text(rec.name, "name"),
            dump_json(rec.spec, "spec"),
            None if rec.applied is None else dump_json(rec.applied, "applied"),
            rec.uuid,
            check_text(rec.node, "node"),
            dump_json(rec.meta, "meta"),
            as_utc(rec.created_at, "created_at"),
            utcnow(),
        )
        with self._conn(write=True) as pg:
            row = pg.execute(
                f"INSERT INTO vms ({_VM_COLUMNS})"
                " VALUES (%s, %s::jsonb, %s::jsonb, %s, %s, %s::jsonb, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, applied = excluded.applied,"
                " uuid = excluded.uuid, node = excluded.node, meta = excluded.meta,"
                " updated_at = excluded.updated_at"
                " RETURNING created_at, updated_at",
                params,
            ).fetchone()
        assert row is not None
        rec.created_at, rec.updated_at = as_utc(row[0], "created_at"), as_utc(row[1], "updated_at")

    def delete_vm(self, name: str) -> bool:
        with self._conn(write=True) as pg:
            return pg.execute("DELETE FROM vms WHERE name = %s", (name,)).rowcount > 0

    # -- events ---------------------------------------------------------------------------------

    def add_event(self, kind: str, subject: str, detail: dict[str, Any]) -> Event:
        params = (
            utcnow(),
            check_text(kind, "kind"),
            check_text(subject, "subject"),
            dump_json(detail, "detail"),
        )
        with self._conn(write=True) as pg:
            row = pg.execute(
                "INSERT INTO events (at, kind, subject, detail) VALUES (%s, %s, %s, %s::jsonb)"
                " RETURNING id, at, detail",
                params,
            ).fetchone()
        assert row is not None
        return Event(id=row[0], at=as_utc(row[1], "at"), kind=kind, subject=subject, detail=load_json(row[2]))

    def list_events(
        self, *, subject: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Event]:
        where, args = [], []
        if subject is not None:
            where.append("subject = %s")
            args.append(subject)
        if kind is not None:
            where.append("kind = %s")
            args.append(kind)
        sql = "SELECT id, at, kind, subject, detail FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %s"
        with self._conn() as pg:
            rows = pg.execute(sql, (*args, check_limit(limit))).fetchall()
        return [
            Event(id=i, at=as_utc(at, "at"), kind=k, subject=s, detail=load_json(d))
            for i, at, k, s, d in rows
        ]

    # -- migrations -----------------------------------------------------------------------------

    def _save_migration(self, mig_id: str, vm: str, phase: str, doc: dict[str, Any]) -> None:
        now = utcnow()
        params = (
            check_text(mig_id, "id"),
            check_text(vm, "vm"),
            check_text(phase, "phase"),
            dump_json(doc, "doc"),
            now,
            now,
        )
        with self._conn(write=True) as pg:
            pg.execute(
                "INSERT INTO migrations (id, vm, phase, doc, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s::jsonb, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET vm = excluded.vm, phase = excluded.phase,"
                " doc = excluded.doc, updated_at = excluded.updated_at",
                params,
            )

    def _load_migrations(self, *, mig_id: str | None = None, vm: str | None = None) -> list[tuple[str, Any]]:
        sql, args = "SELECT id, doc FROM migrations", ()
        if mig_id is not None:
            sql, args = sql + " WHERE id = %s", (mig_id,)
        elif vm is not None:
            sql, args = sql + " WHERE vm = %s", (vm,)
        with self._conn() as pg:
            rows = pg.execute(sql + " ORDER BY seq", args).fetchall()
        return [(i, load_json(d)) for i, d in rows]

    def delete_migration(self, mig_id: str) -> bool:
        with self._conn(write=True) as pg:
            return pg.execute("DELETE FROM migrations WHERE id = %s", (mig_id,)).rowcount > 0

    # -- key/value ------------------------------------------------------------------------------

    def get_kv(self, key: str) -> str | None:
        with self._conn() as pg:
            row = pg.execute("SELECT value FROM kv WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_kv(self, key: str, value: str) -> None:
        params = (check_text(key, "key"), check_value(value))
        with self._conn(write=True) as pg:
            pg.execute(
                "INSERT INTO kv (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params,
            )


def _pg(sql: str) -> str:
    """The base's `?` placeholders in psycopg's style (our SQL holds no other `?` or `%`)."""
    return sql.replace("?", "%s")


def _vm_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    name, spec, applied, uuid, node, meta, created, updated = row
    return {
        "name": name, "spec": load_json(spec), "applied": None if applied is None else load_json(applied),
        "uuid": uuid, "node": node, "meta": load_json(meta),
        "created_at": as_utc(created, "created_at"), "updated_at": as_utc(updated, "updated_at"),
    }  # fmt: skip
