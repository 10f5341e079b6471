"""The store interface every backend implements, plus the checks they share.

The agent calls the store from asyncio code through `asyncio.to_thread`, so every backend must be
safe to call from several threads at once; both serialise on one connection behind a lock, which
is plenty for an agent's write rate and keeps `:memory:` SQLite usable in tests.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from novacron.errors import InvalidInput
from novacron.store.records import Event, VmRecord

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

    @abstractmethod
    def get_vm(self, name: str) -> VmRecord | None: ...

    @abstractmethod
    def list_vms(self) -> list[VmRecord]:
        """All VMs, ordered by name."""

    @abstractmethod
    def put_vm(self, rec: VmRecord) -> None:
        """Insert or replace by name; refreshes `updated_at`, keeps the first `created_at`."""

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

    @abstractmethod
    def put_migration(self, mig_id: str, vm: str, phase: str, doc: dict[str, Any]) -> None:
        """Insert or replace by id; `doc` is the Migration model as JSON."""

    @abstractmethod
    def get_migration(self, mig_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_migrations(self, *, vm: str | None = None) -> list[dict[str, Any]]:
        """Docs in first-insert order, optionally only those of one VM."""

    @abstractmethod
    def delete_migration(self, mig_id: str) -> bool:
        """Remove a migration that never started (its request was refused); False when absent."""

    @abstractmethod
    def get_kv(self, key: str) -> str | None: ...

    @abstractmethod
    def set_kv(self, key: str, value: str) -> None: ...

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
