"""Shared fixtures: real agent processes on free ports with private data dirs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.tooling.* importable from any test
# Hypothesis keeps its example database and caches outside the tree (not ./.hypothesis), for this
# process and for the tools the tests start.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path.home() / ".cache" / "novacron-tests" / "hypothesis"))


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator:
    from tests.tooling.agent import start_agent

    started = []

    def factory(node_id: str = "node-1", **kw):  # type: ignore[no-untyped-def]
        agent = start_agent(tmp_path / node_id, node_id, **kw)
        started.append(agent)
        return agent

    yield factory
    for agent in started:
        agent.stop()


@pytest.fixture
def agent(agent_factory):  # type: ignore[no-untyped-def]
    return agent_factory("node-1")
