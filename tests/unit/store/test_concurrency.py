"""The store is called from many threads (asyncio.to_thread): nothing may be lost or corrupted."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from novacron.store import LATEST_VERSION, Store, VmRecord, open_store

THREADS = 8
PER_THREAD = 50


def _run_threads(target, n: int = THREADS) -> None:  # type: ignore[no-untyped-def]
    """Start n threads together (barrier) and re-raise the first failure."""
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(lambda t=t: (barrier.wait(), target(t))) for t in range(n)]
        for f in futures:
            f.result()


def test_many_threads_putting_vms(store: Store) -> None:
    def work(t: int) -> None:
        for i in range(PER_THREAD):
            labels = {"t": str(t), "i": str(i), "u": "✓"}
            store.put_vm(VmRecord(f"vm-{t}-{i}", {"name": f"vm-{t}-{i}", "labels": labels}, None, None, f"node-{t}"))

    _run_threads(work)
    vms = store.list_vms()
    assert len(vms) == THREADS * PER_THREAD
    assert {v.name for v in vms} == {f"vm-{t}-{i}" for t in range(THREADS) for i in range(PER_THREAD)}
    assert all(v.spec["labels"] == {"t": v.node[5:], "i": v.name.rsplit("-", 1)[1], "u": "✓"} for v in vms)


def test_threads_mixing_every_operation(store: Store) -> None:
    def work(t: int) -> None:
        for i in range(PER_THREAD // 2):
            name = f"shared-{i % 5}"  # every thread fights over the same five rows
            store.put_vm(VmRecord(name, {"name": name, "labels": {"by": str(t), "i": str(i)}}, None, None, "node-1"))
            assert store.get_vm(name) is not None
            store.add_event("tick", f"thread-{t}", {"i": i})
            doc = {"id": f"m-{t}-{i}", "vm": name, "source": "node-1", "destination": "node-2"}
            store.put_migration(f"m-{t}-{i}", name, "pending", doc)
            store.set_kv(f"k-{t}", str(i))
            store.list_events(subject=f"thread-{t}", limit=5)

    _run_threads(work)
    assert sorted(v.name for v in store.list_vms()) == [f"shared-{i}" for i in range(5)]
    events = store.list_events(limit=10_000)
    assert len(events) == THREADS * (PER_THREAD // 2)
    assert len({e.id for e in events}) == len(events)
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
    for t in range(THREADS):  # each thread's own events come back in the order it wrote them
        mine = [e.detail["i"] for e in store.list_events(subject=f"thread-{t}", limit=10_000)]
        assert mine == list(reversed(range(PER_THREAD // 2)))
        assert store.get_kv(f"k-{t}") == str(PER_THREAD // 2 - 1)
    assert len(store.list_migrations()) == THREADS * (PER_THREAD // 2)


def test_two_stores_on_one_database(store_url: str) -> None:
    """Like the agent and the CLI sharing a file (or two agents sharing a PostgreSQL schema)."""
    stores = [open_store(store_url), open_store(store_url)]
    try:

        def work(t: int) -> None:
            s = stores[t % 2]
            for i in range(PER_THREAD // 2):
                s.add_event("e", f"s-{t}", {"i": i})

        _run_threads(work, 4)
        for s in stores:
            assert len(s.list_events(limit=10_000)) == 4 * (PER_THREAD // 2)
    finally:
        for s in stores:
            s.close()


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    opened: list[Store] = []
    lock = threading.Lock()

    def work(_: int) -> None:
        s = open_store(store_url)
        with lock:
            opened.append(s)

    try:
        _run_threads(work, 4)
        assert [s.schema_version() for s in opened] == [LATEST_VERSION] * 4
    finally:
        for s in opened:
            s.close()
    with open_store(store_url) as s:
        s.put_vm(VmRecord("after", {"name": "after"}, None, None, "n"))
        assert [v.name for v in s.list_vms()] == ["after"]


def test_from_asyncio_via_to_thread(store: Store) -> None:
    async def main() -> list[bool]:
        puts = [
            asyncio.to_thread(store.put_vm, VmRecord(f"a-{i}", {"name": f"a-{i}", "vcpus": i + 1}, None, None, "n"))
            for i in range(40)
        ]
        await asyncio.gather(*puts)
        return await asyncio.gather(*(asyncio.to_thread(store.delete_vm, f"a-{i}") for i in range(0, 40, 2)))

    deleted = asyncio.run(main())
    assert deleted == [True] * 20
    assert sorted(v.spec["vcpus"] - 1 for v in store.list_vms()) == list(range(1, 40, 2))
