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


# Under NOVACRON_FAIL_ON_SKIP=1 (set by .ci/run) a skipped test fails the run: on the CI machine
# every service, tool and privilege the suite needs exists, so a skip hides a broken set-up. Only
# these may skip there, each for a reason that is not the machine's.
ALLOWED_SKIPS = {
    "tests/unit/pba/test_pba_seq.py::test_tiny_training_run_exports_what_pytorch_computes":
        "PyTorch is a training tool, not a dependency of the agent or its tests",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("NOVACRON_FAIL_ON_SKIP") == "1" and item.nodeid not in ALLOWED_SKIPS:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped on a machine that must run it (NOVACRON_FAIL_ON_SKIP=1): {reason}"


_SKIPPED_MODULES: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A whole module skipped at import (`allow_module_level=True`) counts the same."""
    if report.skipped and os.environ.get("NOVACRON_FAIL_ON_SKIP") == "1" and report.nodeid not in ALLOWED_SKIPS:
        _SKIPPED_MODULES.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_MODULES:
        print("\nmodules skipped on a machine that must run them (NOVACRON_FAIL_ON_SKIP=1):", *_SKIPPED_MODULES, sep="\n  ")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
