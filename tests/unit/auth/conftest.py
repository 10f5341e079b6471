"""Fixtures for the auth and secrets tests: agent configs and a real OpenBao dev server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from novacron.config.model import AgentConfig
from tests.tooling.openbao import OpenBao, openbao_or_skip


@pytest.fixture
def file_config(tmp_path: Path) -> AgentConfig:
    return AgentConfig.model_validate({"system": {"data_dir": str(tmp_path / "data")}})


@pytest.fixture(scope="module")
def openbao() -> Iterator[OpenBao]:
    yield from openbao_or_skip()
