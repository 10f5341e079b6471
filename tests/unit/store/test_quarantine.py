"""Records that no longer pass their checks are set aside, never a reason to fail (both backends);
revoked tokens and the audit log; the SQLite files are private."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from novacron.store import AuditEntry, Store, VmRecord, open_store
from tests.unit.store.conftest import RawSql

GOOD = {"name": "good", "vcpus": 1}


def _raw_vm(raw_sql: RawSql, backend: str, name: str, spec: object) -> None:
    text = json.dumps(spec)
    now = "2024-01-01T00:00:00+00:00"
    if backend == "sqlite":
        raw_sql(f"INSERT INTO vms VALUES ('{name}', '{text}', NULL, NULL, 'n', '{{}}', '{now}', '{now}')")
    else:
        raw_sql(f"INSERT INTO vms VALUES ('{name}', '{text}'::jsonb, NULL, NULL, 'n', '{{}}'::jsonb, '{now}', '{now}')")


@pytest.mark.parametrize("bad", [
    {"name": 123}, {"name": "bad", "memory_mib": "lots"}, {"name": "bad", "surprise": True}, {"name": "other"},
    {"name": "bad", "labels": {"k": "v\u0001"}}, ["not", "an", "object"],
])  # fmt: skip
def test_an_unreadable_vm_record_is_quarantined_not_fatal(store: Store, backend: str, raw_sql: RawSql, bad: object) -> None:
    store.put_vm(VmRecord("good", GOOD, None, None, "n"))
    _raw_vm(raw_sql, backend, "bad", bad)
    assert [v.name for v in store.list_vms()] == ["good"]  # every reader goes on
    assert store.get_vm("bad") is None
    assert store.count_quarantined() == 1
    (item,) = store.list_quarantined()
    assert item.kind == "vm" and item.key == "bad" and item.reason
    assert json.loads(item.raw)["name"] == "bad"
    # it left the table: the name is free for a new, valid record
    store.put_vm(VmRecord("bad", {"name": "bad"}, None, None, "n"))
    assert store.get_vm("bad") is not None
    assert store.drop_quarantined(item.id) and store.count_quarantined() == 0


def test_an_unreadable_migration_is_quarantined(store: Store, backend: str, raw_sql: RawSql) -> None:
    cast = "::jsonb" if backend == "postgresql" else ""
    now = "2024-01-01T00:00:00+00:00"
    raw_sql(f"INSERT INTO migrations (id, vm, phase, doc, created_at, updated_at) VALUES "
            f"('m1', 'vm', 'pending', '{{\"id\": \"m1\", \"vm\": 7}}'{cast}, '{now}', '{now}')")  # fmt: skip
    assert store.list_migrations() == [] and store.get_migration("m1") is None
    assert [q.key for q in store.list_quarantined()] == ["m1"]


def test_revocations_round_trip_and_prune(store: Store) -> None:
    now = datetime.now(UTC)
    assert store.revoke_token("tok-aaaaaaaa", expires_at=now + timedelta(hours=1), reason="lost laptop", by="ops")
    assert not store.revoke_token("tok-aaaaaaaa", expires_at=now + timedelta(hours=1), reason="again", by="ops")
    store.revoke_token("tok-bbbbbbbb", expires_at=now - timedelta(seconds=1), reason="", by="ops")
    assert {r.token_id for r in store.list_revoked()} == {"tok-aaaaaaaa", "tok-bbbbbbbb"}
    assert store.prune_revoked(now) == 1
    (left,) = store.list_revoked()
    assert (left.token_id, left.reason, left.revoked_by) == ("tok-aaaaaaaa", "lost laptop", "ops")


def test_audit_entries_newest_first(store: Store) -> None:
    for i, status in enumerate((200, 403, 401)):
        store.add_audit(AuditEntry(datetime.now(UTC), f"who-{i}", None, "PUT", f"/api/v1/vms/v{i}", status, "127.0.0.1"))
    got = store.list_audit(limit=2)
    assert [(e.principal, e.status) for e in got] == [("who-2", 401), ("who-1", 403)]
    assert all(e.id is not None for e in got)


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = tmp_path / "state" / "novacron.db"
        with open_store(f"sqlite:///{path}") as s:
            s.put_vm(VmRecord("a", {"name": "a"}, None, None, "n"))
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files if f.exists()}
    finally:
        os.umask(old)
    assert modes["novacron.db"] == 0o600 and modes["novacron.db-wal"] == 0o600
    assert all(m & 0o077 == 0 for m in modes.values()), modes
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "novacron.db"
    with open_store(f"sqlite:///{path}"):
        pass
    path.chmod(0o644)
    with open_store(f"sqlite:///{path}"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
