"""open_store URL handling, SQLite specifics (WAL, paths) and PostgreSQL connection handling."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from novacron.config.model import AgentConfig
from novacron.store import LATEST_VERSION, Store, VmRecord, open_store
from novacron.store.base import redact_url
from novacron.store.sqlite import sqlite_path_from_url
from novacron_sdk.errors import Unavailable
from tests.tooling.postgres import pg_schema


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "redis://localhost", "file:///x.db", "/abs/x.db", ""])
def test_unknown_scheme_is_a_value_error_naming_store_url(url: str) -> None:
    with pytest.raises(ValueError, match="store.url"):
        open_store(url)


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///", "sqlite:///x.db?mode=ro"])
def test_bad_sqlite_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="store.url"):
        open_store(url)


def test_sqlite_url_forms() -> None:
    assert sqlite_path_from_url("sqlite:///var/lib/novacron/novacron.db") == "/var/lib/novacron/novacron.db"
    # AgentConfig.store_url() glues "sqlite:///" to an absolute path: four slashes
    assert sqlite_path_from_url("sqlite:////var/lib/novacron/novacron.db") == "/var/lib/novacron/novacron.db"
    assert sqlite_path_from_url("sqlite://:memory:") == ":memory:"


def test_default_config_url_opens_in_data_dir(tmp_path: Path) -> None:
    cfg = AgentConfig.model_validate({"system": {"data_dir": str(tmp_path / "deep" / "data")}})
    with open_store(cfg.store_url()) as s:
        assert s.backend == "sqlite"
        s.set_kv("k", "v")
    assert (tmp_path / "deep" / "data" / "novacron.db").is_file()


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with open_store(f"sqlite:///{path}") as s:
        s.put_vm(VmRecord("a", {"name": "a"}, None, None, "n"))
        assert Path(f"{path}-wal").exists()
        other = sqlite3.connect(path)
        try:  # journal_mode=WAL is persistent: any other connection sees it
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert other.execute("SELECT name FROM vms").fetchall() == [("a",)]
        finally:
            other.close()


def test_sqlite_memory_store_works() -> None:
    with open_store("sqlite://:memory:") as s:
        assert s.schema_version() == LATEST_VERSION
        s.add_event("k", "s", {})
        assert len(s.list_events()) == 1


def test_unwritable_sqlite_location_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(Unavailable) as err:
        open_store(f"sqlite:///{blocker}/sub/x.db")
    assert err.value.field == "store.url"


def test_ping_and_use_after_close(store: Store) -> None:
    store.ping()
    store.close()
    store.close()  # idempotent
    with pytest.raises(Unavailable, match="closed"):
        store.ping()
    with pytest.raises(Unavailable, match="closed"):
        store.get_vm("a")


def test_backend_and_url_attributes(store: Store, store_url: str, backend: str) -> None:
    assert store.backend == backend
    assert store.url == redact_url(store_url)
    assert "novacron:novacron@" not in store.url


def test_redact_url() -> None:
    assert redact_url("postgresql://u:secret@db.example:5433/x?sslmode=require") == (
        "postgresql://u:***@db.example:5433/x?sslmode=require"
    )
    assert redact_url("postgresql://u@h/x") == "postgresql://u@h/x"
    assert redact_url("sqlite:///a/b.db") == "sqlite:///a/b.db"


def test_unreachable_postgres_is_unavailable() -> None:
    with pytest.raises(Unavailable) as err:
        open_store("postgresql://novacron:secret@127.0.0.1:1/novacron_test?connect_timeout=2")
    assert err.value.field == "store.url"
    assert "secret" not in str(err.value)
    assert "127.0.0.1" in str(err.value)


def test_postgres_reconnects_after_the_server_drops_the_connection(pg_server_url: str) -> None:
    with pg_schema(pg_server_url) as url, open_store(url) as s:
        s.set_kv("k", "before")
        pid = s._pg.info.backend_pid  # type: ignore[attr-defined, union-attr]
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(Unavailable):
            s.ping()
        s.ping()  # the next call opens a new connection
        assert s.get_kv("k") == "before"


def test_postgres_non_utf8_database_is_refused(pg_server_url: str) -> None:
    name = f"novacron_latin1_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not (row and row[0]):
            pytest.skip(f"role of {redact_url(pg_server_url)} may not create databases")
        admin.execute(
            sql.SQL(
                "CREATE DATABASE {} ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(name))
        )
    try:
        latin1_url = urlunsplit(urlsplit(pg_server_url)._replace(path=f"/{name}"))
        with pytest.raises(Unavailable, match="needs UTF8") as err:
            open_store(latin1_url)
        assert err.value.field == "store.url"
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
