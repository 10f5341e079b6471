"""migration/memory.py: a finished migration's cyclic garbage goes soon, not at the next full
collection CPython happens to run."""

from __future__ import annotations

import asyncio
import gc
import weakref

from novacron.migration.memory import collect_soon


class _Relay:
    """A stand-in for a relay whose callback is a bound method of its owner: a reference cycle."""

    def __init__(self, owner: object) -> None:
        self.on_error = owner.fail  # type: ignore[attr-defined]
        self.dictionary = bytearray(1 << 20)


class _Migration:
    def __init__(self) -> None:
        self.relay = _Relay(self)

    def fail(self) -> None:
        pass


def test_a_finished_migrations_cycles_are_collected_soon() -> None:
    async def main() -> bool:
        m = _Migration()
        alive = weakref.ref(m.relay)
        del m
        assert alive() is not None  # a cycle: reference counting alone does not free it
        collect_soon(asyncio.get_running_loop(), delay=0.05)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if alive() is None:
                return True
        return False

    gc.disable()  # no automatic collection may do the work instead
    try:
        assert asyncio.run(main())
    finally:
        gc.enable()
