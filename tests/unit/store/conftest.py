"""Store fixtures: every test using `store`/`store_url` runs once per backend.

SQLite gets a file in tmp_path (so reopen tests see the same database); PostgreSQL gets a fresh
schema in a real server (see tests/tooling/postgres.py), dropped after the test.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from novacron.store import Store, open_store
from novacron.store.sqlite import sqlite_path_from_url
from tests.tooling.postgres import pg_schema, postgres_skip_reason, postgres_url, stop_postgres

BACKENDS = ["sqlite", "postgresql"]

RawSql = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    reason = postgres_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    url = postgres_url()
    assert url is not None
    yield url
    stop_postgres()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to an empty database of `backend` (nothing created until open_store)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/state/novacron.db"
        return
    server = request.getfixturevalue("pg_server_url")
    with pg_schema(server) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def raw_sql(store_url: str) -> RawSql:
    """Run one SQL statement on the test database behind the store's back (committed)."""

    def run(statement: str) -> list[tuple[Any, ...]]:
        if store_url.startswith("sqlite"):
            db = sqlite3.connect(sqlite_path_from_url(store_url), isolation_level=None)
            try:
                return db.execute(statement).fetchall()
            finally:
                db.close()
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as pg:
            cur = pg.execute(statement)  # type: ignore[arg-type]  # test-only SQL
            return cur.fetchall() if cur.description else []

    return run
