"""The peer protocol checks its own state: only a migration's source drives it, ids agree, a dry
run changes nothing, no domain this node did not receive is removed, prepared migrations are
bounded and expire, and nothing a peer sends reaches the store unvalidated."""

from __future__ import annotations

import time
from typing import Any

import pytest

from novacron.migration.incoming import MAX_PREPARED_PER_SOURCE, PREPARE_TTL_S
from tests.unit.peer.harness import ME, Destination, free_dest_port

pytestmark = pytest.mark.asyncio
SPEC = {"name": "web", "vcpus": 1, "memory_mib": 64}


def migration(mig_id: str = "m1", vm: str = "web", source: str = "node-a", **over: Any) -> dict[str, Any]:
    return {"id": mig_id, "vm": vm, "source": source, "destination": ME, "phase": "preparing", **over}


def prepare_body(mig_id: str = "m1", source: str = "node-a", *, dry_run: bool = False, **over: Any) -> dict[str, Any]:
    body = {"migration": migration(mig_id, source=source), "memory_mib": 64, "vcpus": 1, "port": free_dest_port(),
            "dry_run": dry_run, "record": {"spec": SPEC}}  # fmt: skip
    body.update(over)
    return body


def define_domain(dest: Destination, name: str, *, managed_by: str | None = None) -> None:
    meta = ""
    if managed_by is not None:
        meta = ("<metadata><nc:vm xmlns:nc='https://novacron.dev/xmlns/vm/1'>"
                f"<nc:node>{managed_by}</nc:node></nc:vm></metadata>")  # fmt: skip
    xml = (f"<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>{meta}"
           "<os><type>hvm</type></os></domain>")  # fmt: skip
    dest.driver.conn.defineXML(xml)


async def test_only_the_source_prepares(dest: Destination) -> None:
    before = dest.leftovers()
    for caller, source in (("node-c", "node-a"), ("node-a", "node-c"), ("node-a", ME)):
        r = await dest.peer_call(caller, "POST", "/peer/migrations/m1/prepare", prepare_body(source=source))
        assert r.status_code in (403, 422), (caller, source, r.text)
    assert dest.leftovers() == before


async def test_ids_must_agree(dest: Destination) -> None:
    before = dest.leftovers()
    body = prepare_body("m2")
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", body)
    assert r.status_code == 422 and r.json()["field"] == "migration.id"
    body = prepare_body()
    body["migration"]["destination"] = "node-c"
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", body)
    assert r.status_code == 422 and r.json()["field"] == "migration.destination"
    assert dest.leftovers() == before


async def test_complete_only_what_this_node_prepared_from_that_source(dest: Destination) -> None:
    define_domain(dest, "web")  # an unmanaged, running domain: never to be adopted on a peer's word
    dest.driver.conn.lookupByName("web").create()
    before = dest.leftovers()
    body = {"migration": migration(phase="switchover"), "record": {"spec": SPEC}}
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/complete", body)
    assert r.status_code == 404, r.text  # never prepared here
    assert dest.leftovers() == before

    other = prepare_body("m9", record={"spec": {**SPEC, "name": "other"}})
    other["migration"]["vm"] = "other"
    assert (await dest.peer_call("node-a", "POST", "/peer/migrations/m9/prepare", other)).status_code == 200
    wrong_ids = {"migration": migration("m8", vm="other", phase="switchover"), "record": {"spec": {**SPEC, "name": "other"}}}
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m9/complete", wrong_ids)
    assert r.status_code == 422 and r.json()["field"] == "migration.id"
    assert [r.name for r in dest.store.list_vms()] == []


async def test_prepare_then_complete_by_another_node_is_403(dest: Destination) -> None:
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
    assert r.status_code == 200, r.text
    for path, body in (("complete", {"migration": migration(phase="switchover"), "record": {"spec": SPEC}}),
                       ("abort", {"phase": "failed"})):  # fmt: skip
        r = await dest.peer_call("node-c", "POST", f"/peer/migrations/m1/{path}", body)
        assert r.status_code == 403, r.text
    assert sorted(dest.migrations.incoming.active) == ["m1"]
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/abort", {"phase": "cancelled"})
    assert r.status_code == 200 and dest.migrations.incoming.active == {}
    assert dest.store.get_migration("m1")["phase"] == "cancelled"  # type: ignore[index]


@pytest.mark.parametrize("spec", [
    {"name": 123}, {"name": "web", "memory_mib": "lots"}, {"name": "web", "bogus": 1}, {"name": "other"},
    {"name": "web", "labels": {"k": "v\x00"}}, {"name": "web", "vcpus": 0}, "not an object",
])  # fmt: skip
async def test_a_spec_from_a_peer_is_validated_before_it_is_stored(dest: Destination, spec: object) -> None:
    before = dest.leftovers()
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body(record={"spec": spec}))
    assert r.status_code == 422, r.text
    assert dest.leftovers() == before


async def test_dry_run_prepare_changes_nothing_and_destroys_nothing(dest: Destination) -> None:
    define_domain(dest, "web")  # stopped, unmanaged: not ours to remove
    before = dest.leftovers()
    for dry_run in (True, False):
        r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body(dry_run=dry_run))
        assert r.status_code == 409, r.text
        assert "not left over from a migration" in r.json()["detail"]
    assert dest.leftovers() == before
    assert dest.driver.conn.lookupByName("web") is not None


async def test_a_leftover_of_an_earlier_migration_here_is_removed_by_a_real_prepare_only(dest: Destination) -> None:
    define_domain(dest, "web", managed_by=ME)
    dest.store.put_migration("old", "web", "failed", migration("old", phase="failed"))
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body(dry_run=True))
    assert r.status_code == 200, r.text
    assert "web" in dest.leftovers()["domains"]  # the dry run left it
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
    assert r.status_code == 200, r.text
    assert "web" not in dest.leftovers()["domains"]


async def test_prepared_migrations_are_bounded_per_source(dest: Destination) -> None:
    ids = [f"m{i}" for i in range(MAX_PREPARED_PER_SOURCE + 3)]
    codes = []
    for i, mig_id in enumerate(ids):
        body = prepare_body(mig_id)
        body["migration"]["vm"] = f"vm{i}"
        body["record"] = {"spec": {**SPEC, "name": f"vm{i}"}}
        codes.append((await dest.peer_call("node-a", "POST", f"/peer/migrations/{mig_id}/prepare", body)).status_code)
    assert codes == [200] * MAX_PREPARED_PER_SOURCE + [409] * 3
    other = prepare_body("c1", source="node-c")
    other["migration"]["vm"] = "cvm"
    other["record"] = {"spec": {**SPEC, "name": "cvm"}}
    assert (await dest.peer_call("node-c", "POST", "/peer/migrations/c1/prepare", other)).status_code == 200
    assert len(dest.store.list_migrations()) == MAX_PREPARED_PER_SOURCE + 1


async def test_a_prepare_whose_source_never_connects_expires(dest: Destination) -> None:
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
    assert r.status_code == 200
    inc = dest.migrations.incoming
    assert await inc.sweep(time.monotonic()) == []  # still fresh
    dropped = await inc.sweep(inc.active["m1"].prepared_at + PREPARE_TTL_S + 1)
    assert dropped == ["m1"] and inc.active == {}
    doc = dest.store.get_migration("m1")
    assert doc is not None and doc["phase"] == "failed" and "did not connect" in doc["error"]


async def test_a_migration_id_is_prepared_once(dest: Destination) -> None:
    assert (await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())).status_code == 200
    await dest.peer_call("node-a", "POST", "/peer/migrations/m1/abort", {"phase": "failed"})
    r = await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())
    assert r.status_code == 409 and r.json()["field"] == "migration.id"


async def test_channels_are_taken_only_from_the_migration_source(dest: Destination) -> None:
    from novacron.migration.wire import ChannelHeader

    assert (await dest.peer_call("node-a", "POST", "/peer/migrations/m1/prepare", prepare_body())).status_code == 200
    service = dest.migrations
    for peer in ("node-c", None, ME):
        why = service.dispatch_pipe(ChannelHeader("m1", 0, "pipe"), None, peer)  # type: ignore[arg-type]
        assert why is not None and "comes from node-a" in why, why
    assert dest.migrations.incoming.active["m1"].connected is False
    why = service.dispatch_pipe(ChannelHeader("m1", 0, "pipe-back"), None, "node-a")  # type: ignore[arg-type]
    assert why is not None and "no outgoing migration" in why
    why = service.dispatch_pipe(ChannelHeader("nope", 0, "pipe"), None, "node-a")  # type: ignore[arg-type]
    assert why is not None and "no incoming migration" in why
