"""A real PostgreSQL server for store tests, and a clean schema per test.

Where the server comes from, in order:
  1. env NOVACRON_TEST_PG_URL (a CI service or a developer's server) -- used as is, never stopped;
  2. as root: `.ci/postgres.sh` with NOVACRON_PG_DIR set, i.e. a private throw-away cluster on a
     free loopback port in a temp folder (fsync off), so parallel test runs never share or stop
     each other's server; `stop_postgres()` (and atexit) stops it and removes the folder;
  3. otherwise None, and `postgres_skip_reason()` says why the PostgreSQL tests skip.

    url = postgres_url()
    with pg_schema(url) as store_url:   # store_url pins search_path to a fresh, unique schema
        open_store(store_url)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

ENV_URL = "NOVACRON_TEST_PG_URL"
SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "postgres.sh"
_START_TIMEOUT_S = 180.0  # includes `apt-get install postgresql` on a fresh machine

_state: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_skip_reason() -> str | None:
    """None when PostgreSQL tests can run; else the sentence to skip them with."""
    if os.environ.get(ENV_URL):
        return None
    if os.geteuid() != 0:
        return (
            f"PostgreSQL tests need a server: set {ENV_URL}=postgresql://user:pass@host:port/db, "
            f"or run as root so {SCRIPT.relative_to(SCRIPT.parents[1])} can start a private one"
        )
    if not SCRIPT.is_file():
        return f"{SCRIPT} is missing"
    return None


def postgres_url() -> str | None:
    """URL of a server the tests may create schemas in, or None (see `postgres_skip_reason`).

    Started at most once per process. Raises RuntimeError (with the script's output) when we are
    root but the script fails: a broken setup should be loud, not a silent skip.
    """
    if "url" in _state:
        return _state["url"]  # type: ignore[return-value]
    env_url = os.environ.get(ENV_URL)
    if env_url:
        _state["url"] = env_url
        return env_url
    if postgres_skip_reason() is not None:
        _state["url"] = None
        return None
    folder = Path(tempfile.mkdtemp(prefix="novacron-pg-"))
    env = {**os.environ, "NOVACRON_PG_DIR": str(folder), "NOVACRON_PG_PORT": str(_free_port())}
    _state["dir"] = folder
    _state["env"] = env
    atexit.register(stop_postgres)
    proc = subprocess.run(
        ["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=_START_TIMEOUT_S
    )
    if proc.returncode != 0:
        stop_postgres()
        raise RuntimeError(f"{SCRIPT} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}")
    url = proc.stdout.strip().splitlines()[-1]
    _state["url"] = url
    return url


def stop_postgres() -> None:
    """Stop and delete the private cluster this process started, if any. Idempotent."""
    folder = _state.pop("dir", None)
    env = _state.pop("env", None)
    _state.pop("url", None)
    if folder is None:
        return
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=60)  # type: ignore[arg-type]
    shutil.rmtree(folder, ignore_errors=True)  # type: ignore[arg-type]


def with_search_path(url: str, schema: str) -> str:
    """`url` with libpq `options=-csearch_path=<schema>`, so every table lands in that schema."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextlib.contextmanager
def pg_schema(url: str, prefix: str = "t") -> Iterator[str]:
    """Create a uniquely named schema, yield `url` pinned to it, drop it (CASCADE) afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
