"""Fixtures: the provider plugin as the engine runs it, and a fake engine that records its log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pulumi.harness import FakeEngine, ProviderProcess


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    eng = FakeEngine()
    yield eng
    eng.stop()


@pytest.fixture
def provider(engine: FakeEngine) -> Iterator[ProviderProcess]:
    """A fresh plugin process per test (tests that configure it against their own agents)."""
    proc = ProviderProcess(engine.address)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def pure_provider() -> Iterator[ProviderProcess]:
    """One plugin process for a module of Check/Diff tests (they keep no state in it)."""
    eng = FakeEngine()
    proc = ProviderProcess(eng.address)
    yield proc
    proc.stop()
    eng.stop()


@pytest.fixture(autouse=True)
def _fresh_event_loop():  # type: ignore[no-untyped-def]
    """Pulumi's SDK asks for the thread's current event loop; tests that ran `asyncio.run` before
    (in any folder) leave none set, so each test here gets its own."""
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()
