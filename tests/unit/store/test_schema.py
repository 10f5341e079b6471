"""Schema versioning: fresh open migrates, reopen is a no-op, upgrades apply in order inside one
transaction, and a database from a newer agent is refused (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from novacron.store import LATEST_VERSION, SchemaTooNew, VmRecord, migrations, open_store
from novacron.store.migrations import SchemaStep, pending
from novacron_sdk.errors import Unavailable

RawSql = Callable[[str], list[tuple[Any, ...]]]  # the `raw_sql` fixture from conftest.py


def versions(raw_sql: RawSql) -> list[int]:
    return [int(r[0]) for r in raw_sql("SELECT version FROM schema_version ORDER BY version")]


def test_fresh_database_gets_every_step(store_url: str, raw_sql: RawSql) -> None:
    with open_store(store_url) as s:
        assert s.schema_version() == LATEST_VERSION
    assert versions(raw_sql) == list(range(1, LATEST_VERSION + 1))


def test_reopen_is_a_no_op_and_keeps_data(store_url: str, raw_sql: RawSql) -> None:
    with open_store(store_url) as s:
        s.put_vm(VmRecord("a", {"name": "a", "vcpus": 3}, None, None, "node-1"))
        s.set_kv("k", "v")
    before = raw_sql("SELECT version, name, applied_at FROM schema_version ORDER BY version")
    for _ in range(2):
        with open_store(store_url) as s:
            assert s.schema_version() == LATEST_VERSION
            got = s.get_vm("a")
            assert got is not None and got.spec == {"name": "a", "vcpus": 3}
            assert s.get_kv("k") == "v"
    assert raw_sql("SELECT version, name, applied_at FROM schema_version ORDER BY version") == before


def test_database_from_a_newer_agent_is_refused(store_url: str, raw_sql: RawSql) -> None:
    open_store(store_url).close()
    future = LATEST_VERSION + 3
    raw_sql(
        f"INSERT INTO schema_version (version, name, applied_at) "
        f"VALUES ({future}, 'from the future', '2099-01-01T00:00:00+00:00')"
    )
    with pytest.raises(SchemaTooNew) as err:
        open_store(store_url)
    assert err.value.field == "store.url"
    assert err.value.found == future and err.value.known == LATEST_VERSION
    message = str(err.value)
    assert f"schema version {future}" in message and f"up to {LATEST_VERSION}" in message
    assert "upgrade novacron-agent" in message
    assert isinstance(err.value, Unavailable)


def _extra_step(version: int, sqlite: str, postgresql: str) -> SchemaStep:
    return SchemaStep(
        version=version, name=f"test step {version}", sqlite=(sqlite,), postgresql=(postgresql,)
    )


def test_upgrade_applies_new_steps_in_order_once(
    store_url: str, raw_sql: RawSql, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(store_url).close()
    v2 = LATEST_VERSION + 1
    steps = (
        *migrations.STEPS,
        _extra_step(
            v2,
            "CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT)",
            "CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT)",
        ),
        # depends on the step before: order matters
        _extra_step(
            v2 + 1, "ALTER TABLE extra ADD COLUMN flag INTEGER", "ALTER TABLE extra ADD COLUMN flag INTEGER"
        ),
    )
    monkeypatch.setattr(migrations, "STEPS", steps)
    with open_store(store_url) as s:
        assert s.schema_version() == v2 + 1
    raw_sql("INSERT INTO extra (id, note, flag) VALUES (1, 'ok', 1)")
    with open_store(store_url) as s:  # second open must not re-run ALTER TABLE (would fail)
        assert s.schema_version() == v2 + 1
    assert versions(raw_sql) == list(range(1, v2 + 2))


def test_failing_step_leaves_the_schema_untouched(
    store_url: str, raw_sql: RawSql, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(store_url).close()
    v2 = LATEST_VERSION + 1
    bad = SchemaStep(
        version=v2,
        name="half-broken",
        sqlite=("CREATE TABLE half (id INTEGER)", "THIS IS NOT SQL"),
        postgresql=("CREATE TABLE half (id INTEGER)", "THIS IS NOT SQL"),
    )
    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, bad))
    with pytest.raises(Exception, match="(?i)syntax"):
        open_store(store_url)
    monkeypatch.undo()
    with open_store(store_url) as s:
        assert s.schema_version() == LATEST_VERSION
    assert versions(raw_sql) == list(range(1, LATEST_VERSION + 1))
    with pytest.raises(Exception, match="half"):
        raw_sql("SELECT * FROM half")


def test_pending_plans_only_the_missing_steps() -> None:
    steps = (
        _extra_step(1, "a", "a"),
        _extra_step(2, "b", "b"),
        _extra_step(3, "c", "c"),
    )
    assert [s.version for s in pending(0, "u", steps)] == [1, 2, 3]
    assert [s.version for s in pending(2, "u", steps)] == [3]
    assert pending(3, "u", steps) == []
    with pytest.raises(SchemaTooNew):
        pending(4, "u", steps)
    with pytest.raises(AssertionError, match="without gaps"):
        pending(0, "u", (steps[0], steps[2]))
