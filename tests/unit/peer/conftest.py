from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.unit.peer.harness import Destination, Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture
async def dest(tmp_path: Path, pki: Pki) -> AsyncIterator[Destination]:
    d = Destination(tmp_path, pki)
    yield d
    await d.close()
