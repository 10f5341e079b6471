"""Fixtures: the provider plugin as the engine runs it, a fake engine log, and real agents."""

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
    proc = ProviderProcess(engine.address)
    yield proc
    proc.stop()
