"""The agent's durable state: SQLite (WAL) in data_dir by default, PostgreSQL when configured.

`open_store(AgentConfig.store_url())` is the only constructor callers need; it applies pending
schema steps and refuses a database written by a newer agent (`SchemaTooNew`).
"""

from __future__ import annotations

from novacron.store.base import Store
from novacron.store.migrations import LATEST_VERSION, SchemaTooNew
from novacron.store.records import AuditEntry, Event, Quarantined, Revocation, VmRecord

__all__ = [
    "LATEST_VERSION", "AuditEntry", "Event", "Quarantined", "Revocation", "SchemaTooNew", "Store", "VmRecord",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open (creating and migrating as needed) the store at `url`.

    `sqlite:///abs/path.db` (parent directory created), `sqlite://:memory:`, or
    `postgresql://user:pass@host:port/db` (also `postgres://`). Anything else is a ValueError
    naming store.url.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"store.url: must be a sqlite:///PATH or postgresql://… URL, got {url!r}")
    if url.startswith("sqlite://"):
        from novacron.store.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from novacron.store.postgres import PostgresStore

        return PostgresStore(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ValueError(
        f"store.url: unsupported scheme {scheme!r}; use sqlite:///PATH or postgresql://user:pass@host/db"
    )
