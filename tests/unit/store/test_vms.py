"""VM records: round-trips, upsert semantics, deletion, JSON fidelity (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from novacron.store import Store, VmRecord
from novacron_sdk.errors import InvalidInput

SPEC = {
    "name": "web-1",
    "vcpus": 2,
    "memory_mib": 1024,
    "disks": [{"name": "root", "base_image": "/var/lib/images/debian.qcow2", "size_gib": 10, "bus": "virtio"}],
    "networks": [{"network": "default", "mac": None}],
    "autostart": True,
}
UUID2 = "0b5c1f8e-9a4d-4c1e-8f7a-2d3e4f5a6b7c"


def make(name: str = "web-1", **kw: object) -> VmRecord:
    fields: dict[str, object] = {
        "spec": dict(SPEC, name=name),
        "applied": None,
        "uuid": None,
        "node": "node-1",
    }
    fields.update(kw)
    return VmRecord(name=name, **fields)  # type: ignore[arg-type]


def test_get_missing_is_none(store: Store) -> None:
    assert store.get_vm("nope") is None
    assert store.list_vms() == []


def test_put_get_round_trip_every_field(store: Store) -> None:
    created = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    rec = make(
        applied=dict(SPEC, vcpus=1),
        uuid="6f1c2b52-5a8e-4b1e-9d55-0e0f5c1b7a11",
        meta={"volumes": ["/var/lib/novacron/vols/web-1-0.qcow2"], "seed_iso": "/x/seed.iso"},
        created_at=created,
    )
    store.put_vm(rec)
    got = store.get_vm("web-1")
    assert got is not None
    assert got.name == "web-1"
    assert got.spec == rec.spec
    assert got.applied == dict(SPEC, vcpus=1)
    assert got.uuid == "6f1c2b52-5a8e-4b1e-9d55-0e0f5c1b7a11"
    assert got.node == "node-1"
    assert got.meta == rec.meta
    assert got.created_at == created
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert got.updated_at.utcoffset() == timedelta(0)
    # put_vm writes the stored timestamps back into the record it was given
    assert got.updated_at == rec.updated_at
    assert got.created_at == rec.created_at


def test_non_utc_created_at_is_stored_as_the_same_instant(store: Store) -> None:
    plus2 = timezone(timedelta(hours=2))
    store.put_vm(make(created_at=datetime(2024, 1, 1, 14, 0, tzinfo=plus2)))
    got = store.get_vm("web-1")
    assert got is not None
    assert got.created_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert got.created_at.tzinfo == UTC


def test_put_is_an_upsert_keeping_created_at(store: Store) -> None:
    first = make(created_at=datetime(2023, 1, 1, tzinfo=UTC))
    store.put_vm(first)
    first_updated = first.updated_at

    second = make(
        spec=dict(SPEC, vcpus=8),
        applied=dict(SPEC, vcpus=8),
        uuid=UUID2,
        node="node-2",
        meta={"k": "v"},
        created_at=datetime(2025, 6, 6, tzinfo=UTC),  # ignored on update
    )
    store.put_vm(second)

    got = store.get_vm("web-1")
    assert got is not None
    assert (got.spec["vcpus"], got.applied, got.uuid, got.node, got.meta) == (
        8,
        dict(SPEC, vcpus=8),
        UUID2,
        "node-2",
        {"k": "v"},
    )
    assert got.created_at == datetime(2023, 1, 1, tzinfo=UTC)
    assert second.created_at == datetime(2023, 1, 1, tzinfo=UTC)
    assert got.updated_at >= first_updated
    assert [v.name for v in store.list_vms()] == ["web-1"]


def test_applied_can_go_back_to_none(store: Store) -> None:
    store.put_vm(make(applied=dict(SPEC)))
    store.put_vm(make(applied=None))
    got = store.get_vm("web-1")
    assert got is not None and got.applied is None


def test_list_is_sorted_by_name(store: Store) -> None:
    for name in ["db-2", "Alpha", "web-1", "db-10", "app"]:
        store.put_vm(make(name))
    listed = store.list_vms()
    assert [v.name for v in listed] == sorted(["db-2", "Alpha", "web-1", "db-10", "app"])
    assert all(v.spec["name"] == v.name for v in listed)


def test_delete(store: Store) -> None:
    store.put_vm(make("a"))
    store.put_vm(make("b"))
    assert store.delete_vm("a") is True
    assert store.delete_vm("a") is False
    assert store.get_vm("a") is None
    assert [v.name for v in store.list_vms()] == ["b"]


def test_unicode_and_awkward_json_round_trip(store: Store) -> None:
    spec = dict(SPEC, name="vm-u", labels={"greeting": 'Grüße aus Köln — 東京 🚀 "quoted" back\\slash', "z": ""})
    meta = {
        "ключ": "значение",
        "description": 'Grüße — 東京 🚀 "quoted" back\\slash \n newline \t tab',
        "emoji_key_🔑": ["ß", "ǅ", "\u200b", "\U0001f600"],
        "big": 2**62, "neg": -17, "float": 1e-300, "zero": 0.0,
        "nested": {"deep": {"deeper": [[], {}, [None, True, False]]}},
        "literal_escape": "\\u0000 is text here",
    }
    store.put_vm(make("vm-u", spec=spec, meta=meta))
    got = store.get_vm("vm-u")
    assert got is not None
    assert got.spec == spec
    assert got.meta == meta


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"x": float("nan")}, "meta"),
        ({"x": float("inf")}, "meta"),
        ({"x": {1, 2}}, "meta"),
        ({"x": "nul\x00byte"}, "meta"),
    ],
)
def test_unstorable_json_is_refused_naming_the_field(store: Store, value: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        store.put_vm(make(meta=value))
    assert err.value.field == field
    assert store.get_vm("web-1") is None


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"spec": dict(SPEC, vcpus=float("nan"))}, "record.spec.vcpus"),
        ({"spec": dict(SPEC, bogus=1)}, "record.spec.bogus"),
        ({"spec": dict(SPEC, name=123)}, "record.spec.name"),
        ({"spec": dict(SPEC, name="other")}, "record.spec.name"),
        ({"spec": {"x": 1}}, "record.spec.name"),
        ({"applied": {"when": "2024"}}, "record.applied.name"),
        ({"applied": dict(SPEC, memory_mib=1)}, "record.applied.memory_mib"),
        ({"uuid": "not-a-uuid"}, "record.uuid"),
        ({"node": "bad node"}, "record.node"),
    ],
)
def test_a_record_the_api_would_refuse_is_refused(store: Store, kw: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        store.put_vm(make(**kw))
    assert err.value.field == field
    assert store.get_vm("web-1") is None


def test_record_refuses_naive_datetimes_and_bad_fields() -> None:
    with pytest.raises(ValueError, match="created_at: .*timezone-aware"):
        make(created_at=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="node"):
        make(node="")
    with pytest.raises(TypeError, match="spec"):
        make(spec=["not", "a", "dict"])
