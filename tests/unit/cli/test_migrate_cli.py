"""`novacron migrate`: finds the owner, starts the migration and waits by the SDK's rule."""

from __future__ import annotations

import argparse

import pytest

from novacron.migration.cli import register_cli
from tests.unit.sdk.scripted_agent import ScriptedAgent, state


def migrate(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["migrate", *argv])
    return int(args.func(args))


def test_waits_until_completed_and_draws_the_final_state_once(capsys: pytest.CaptureFixture[str]) -> None:
    done = state("completed", progress={"bytes_total": 100, "bytes_sent": 100, "bytes_on_wire": 2_000_000,
                                        "elapsed_s": 1.5, "downtime_ms": 42.0})
    with ScriptedAgent(state("pending"), state("transferring"), done) as agent:
        assert migrate("web-1", "node-b", "--url", agent.url) == 0
        assert agent.requests == ["GET /api/v1/cluster/vms/web-1", "POST /api/v1/migrations",
                                  *["GET /api/v1/migrations/m-1"] * 3]
    out = capsys.readouterr().out
    assert out.count("completed") == 1 and "transferring" in out
    assert "web-1 now runs on node-b: 1.5 s, 2.0 MB on the wire" in out and "downtime 42 ms" in out


def test_a_failed_migration_is_exit_1_with_the_sdks_words(capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedAgent(state("pending"), state("failed", error="destination refused")) as agent:
        assert migrate("web-1", "node-b", "--url", agent.url) == 1
    err = capsys.readouterr().err
    assert "novacron migrate: migration m-1 of web-1 from node-a to node-b ended failed: destination refused" in err


def test_a_vm_already_there_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedAgent(state("pending")) as agent:
        assert migrate("web-1", "node-a", "--url", agent.url) == 0
        assert agent.requests == ["GET /api/v1/cluster/vms/web-1"]
    assert "web-1 already runs on node-a" in capsys.readouterr().out
