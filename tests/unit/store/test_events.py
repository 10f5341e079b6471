"""The event log: ids grow, newest first, filters and limits (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from novacron.store import Store
from novacron_sdk.errors import InvalidInput


def test_add_returns_the_stored_event(store: Store) -> None:
    ev = store.add_event("vm.created", "web-1", {"by": "api", "spec": {"vcpus": 2}})
    assert ev.kind == "vm.created"
    assert ev.subject == "web-1"
    assert ev.detail == {"by": "api", "spec": {"vcpus": 2}}
    assert ev.at.utcoffset() == timedelta(0)
    assert store.list_events() == [ev]


def test_newest_first_with_growing_ids(store: Store) -> None:
    added = [store.add_event("tick", "s", {"n": n}) for n in range(5)]
    ids = [e.id for e in added]
    assert ids == sorted(ids) and len(set(ids)) == 5
    listed = store.list_events()
    assert [e.detail["n"] for e in listed] == [4, 3, 2, 1, 0]
    assert listed == list(reversed(added))


def test_filters_and_limit(store: Store) -> None:
    for i in range(6):
        store.add_event("vm.started" if i % 2 else "vm.stopped", f"vm-{i % 3}", {"i": i})
    assert [e.detail["i"] for e in store.list_events(subject="vm-0")] == [3, 0]
    assert [e.detail["i"] for e in store.list_events(kind="vm.started")] == [5, 3, 1]
    assert [e.detail["i"] for e in store.list_events(kind="vm.started", subject="vm-2")] == [5]
    assert [e.detail["i"] for e in store.list_events(kind="vm.stopped", subject="vm-1")] == [4]
    assert [e.detail["i"] for e in store.list_events(limit=2)] == [5, 4]
    assert store.list_events(subject="nobody") == []


@pytest.mark.parametrize("limit", [0, -1, 10**9, "5", True])
def test_bad_limit_is_refused(store: Store, limit: object) -> None:
    with pytest.raises(InvalidInput) as err:
        store.list_events(limit=limit)  # type: ignore[arg-type]
    assert err.value.field == "limit"


def test_unicode_detail_round_trips(store: Store) -> None:
    detail = {"message": "Speicher voll — ディスク 💾", "path": "/var/lib/ñ"}
    store.add_event("vm.error", "vm-ñ", detail)
    (ev,) = store.list_events(subject="vm-ñ")
    assert ev.detail == detail


@pytest.mark.parametrize(("kind", "subject", "field"), [("", "s", "kind"), ("k", "", "subject")])
def test_empty_kind_or_subject_is_refused(store: Store, kind: str, subject: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        store.add_event(kind, subject, {})
    assert err.value.field == field
    assert store.list_events() == []


def test_detail_must_be_an_object(store: Store) -> None:
    with pytest.raises(InvalidInput) as err:
        store.add_event("k", "s", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert err.value.field == "detail"
