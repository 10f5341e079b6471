"""Migration documents and the key/value table (both backends)."""

from __future__ import annotations

import pytest

from novacron.store import Store
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.migration import Migration


def doc(mig_id: str, vm: str, phase: str = "pending", **kw: object) -> dict:
    return Migration(id=mig_id, vm=vm, source="node-1", destination="node-2", phase=phase, **kw).model_dump(
        mode="json"
    )


def test_put_get_round_trip(store: Store) -> None:
    d = doc("m-1", "web-1", error="unicode détail ✓")
    store.put_migration("m-1", "web-1", "pending", d)
    assert store.get_migration("m-1") == d
    assert Migration.model_validate(store.get_migration("m-1")) == Migration.model_validate(d)
    assert store.get_migration("m-404") is None


def test_upsert_replaces_doc_and_keeps_list_position(store: Store) -> None:
    store.put_migration("m-1", "web-1", "pending", doc("m-1", "web-1"))
    store.put_migration("m-2", "db-1", "pending", doc("m-2", "db-1"))
    done = doc("m-1", "web-1", "completed")
    store.put_migration("m-1", "web-1", "completed", done)
    assert store.get_migration("m-1") == done
    assert [m["id"] for m in store.list_migrations()] == ["m-1", "m-2"]
    assert [m["phase"] for m in store.list_migrations()] == ["completed", "pending"]


def test_delete_removes_only_that_migration(store: Store) -> None:
    store.put_migration("m-1", "web-1", "pending", doc("m-1", "web-1"))
    store.put_migration("m-2", "web-1", "pending", doc("m-2", "web-1"))
    assert store.delete_migration("m-1") is True
    assert store.get_migration("m-1") is None and store.delete_migration("m-1") is False
    assert [m["id"] for m in store.list_migrations(vm="web-1")] == ["m-2"]


def test_list_by_vm(store: Store) -> None:
    for i, vm in enumerate(["a", "b", "a", "c", "a"]):
        store.put_migration(f"m-{i}", vm, "pending", doc(f"m-{i}", vm))
    assert [m["id"] for m in store.list_migrations(vm="a")] == ["m-0", "m-2", "m-4"]
    assert [m["id"] for m in store.list_migrations(vm="c")] == ["m-3"]
    assert store.list_migrations(vm="zzz") == []
    assert len(store.list_migrations()) == 5


def test_bad_migration_input_names_the_field(store: Store) -> None:
    with pytest.raises(InvalidInput) as err:
        store.put_migration("", "vm", "pending", {})
    assert err.value.field == "migration.id"
    with pytest.raises(InvalidInput) as err:
        store.put_migration("m", "vm", "pending", {**doc("m", "vm"), "progress": {"bytes_total": float("nan")}})
    assert err.value.field == "migration.progress.bytes_total"
    with pytest.raises(InvalidInput) as err:
        store.put_migration("m", "vm", "pending", {**doc("m", "vm"), "source": "bad node\x00"})
    assert err.value.field == "migration.source"
    with pytest.raises(InvalidInput) as err:
        store.put_migration("m", "other", "pending", doc("m", "vm"))
    assert err.value.field == "migration"
    assert store.list_migrations() == []


def test_kv_round_trip_and_overwrite(store: Store) -> None:
    assert store.get_kv("node.identity") is None
    store.set_kv("node.identity", "node-1")
    assert store.get_kv("node.identity") == "node-1"
    store.set_kv("node.identity", "ノード-2 ✓")
    assert store.get_kv("node.identity") == "ノード-2 ✓"
    store.set_kv("empty", "")
    assert store.get_kv("empty") == ""
    assert store.get_kv("node.identity") == "ノード-2 ✓"


@pytest.mark.parametrize(
    ("key", "value", "field"), [("", "v", "key"), ("k", 5, "value"), ("k", "a\x00b", "value")]
)
def test_kv_bad_input(store: Store, key: str, value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        store.set_kv(key, value)  # type: ignore[arg-type]
    assert err.value.field == field
