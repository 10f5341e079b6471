"""Same VM: requests serialised. Different VMs: in parallel. The event loop never blocks."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from novacron.hypervisor.driver import HypervisorDriver
from novacron.vms.service import VmService
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio


def spec(name: str, mem: int = 256) -> VirtualMachineSpec:
    return VirtualMachineSpec(name=name, memory_mib=mem)


async def test_same_vm_requests_are_serialised(
    svc: VmService, driver: HypervisorDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    inflight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    guard = threading.Lock()
    real_observe = driver.observe

    def observe(name: str):  # type: ignore[no-untyped-def]
        with guard:
            inflight[name] += 1
            peak[name] = max(peak[name], inflight[name])
        try:
            threading.Event().wait(0.02)  # widen the window a race would need
            return real_observe(name)
        finally:
            with guard:
                inflight[name] -= 1

    monkeypatch.setattr(driver, "observe", observe)
    results = await asyncio.gather(*(svc.converge(spec("same", 256 + 16 * i)) for i in range(6)))
    assert peak["same"] == 1
    assert [r.action for r in results] == ["create"] + ["update"] * 5  # each saw the previous one's result
    assert [r.changes[0].before for r in results[1:]] == [256 + 16 * i for i in range(5)]
    assert (await svc.get("same")).memory_mib == 256 + 16 * 5


async def test_different_vms_proceed_in_parallel(
    svc: VmService, driver: HypervisorDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_inside = threading.Barrier(2, timeout=10)  # breaks unless two defines overlap
    real_define = driver.define

    def define(xml: str) -> str:
        both_inside.wait()
        return real_define(xml)

    monkeypatch.setattr(driver, "define", define)
    a, b = await asyncio.gather(svc.converge(spec("va")), svc.converge(spec("vb")))
    assert a.action == b.action == "create"
    assert {v.name for v in await svc.list()} == {"va", "vb"}


async def test_long_operation_does_not_block_the_event_loop(
    svc: VmService, driver: HypervisorDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_ran = threading.Event()
    real_define = driver.define

    def define(xml: str) -> str:
        # Only a coroutine on the event loop can set this; a blocked loop would make it time out.
        assert loop_ran.wait(10), "event loop was blocked during a libvirt call"
        return real_define(xml)

    monkeypatch.setattr(driver, "define", define)

    async def on_the_loop() -> None:
        await asyncio.sleep(0.01)
        loop_ran.set()

    res, _ = await asyncio.gather(svc.converge(spec("slow")), on_the_loop())
    assert res.action == "create"
