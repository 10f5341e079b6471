"""The collection through the real ansible-playbook against a real agent (test driver)."""

from __future__ import annotations

import pytest

from tests.ansible.conftest import play

pytestmark = pytest.mark.integration

WEB = {"name": "web-1", "vcpus": 2, "memory_mib": 512, "disks": [{"name": "root", "size_gib": 2}],
       "labels": {"role": "web"}, "state": "running"}
DB = {"name": "db-1", "vcpus": 1, "memory_mib": 1024, "labels": {"role": "db"}, "state": "stopped"}


def converge_tasks() -> list[dict]:
    return [
        {"name": "web", "novacron.cloud.vm": WEB},
        {"name": "db", "novacron.cloud.vm": DB},
        {"name": "mode", "novacron.cloud.mode": {"mode": "internet", "v3_rollout_percentage": 50}},
    ]


def agent_view(agent) -> dict:  # type: ignore[no-untyped-def]
    with agent.client() as c:
        vms = {v.name: v.model_dump(mode="json", exclude={"status": {"updated_at", "created_at"}}) for v in c.list_vms()}
        mode = c.get_mode().model_dump(mode="json", exclude={"peers", "last_switch_ms"})
    return {"vms": vms, "mode": mode}


def test_converge_then_rerun_is_unchanged(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    first = run_playbook(play(converge_tasks(), agent))
    assert first.rc == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert first.stats()["changed"] == 3
    view = agent_view(agent)
    assert view["vms"]["web-1"]["status"]["actual_state"] == "running"
    assert view["vms"]["db-1"]["status"]["actual_state"] == "stopped"
    assert view["mode"]["mode"] == "internet" and view["mode"]["forced"]

    second = run_playbook(play(converge_tasks(), agent))
    assert second.rc == 0
    assert second.stats()["changed"] == 0, second.stdout[-3000:]
    assert agent_view(agent) == view


def test_check_mode_reports_and_changes_nothing(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    run_playbook(play(converge_tasks()[:1], agent))
    before = agent_view(agent)
    tasks = [
        {"name": "grow", "novacron.cloud.vm": {"name": "web-1", "memory_mib": 1024}},
        {"name": "new", "novacron.cloud.vm": {"name": "new-1", "memory_mib": 256}},
        {"name": "gone", "novacron.cloud.vm": {"name": "web-1", "state": "absent"}},
        {"name": "mode", "novacron.cloud.mode": {"mode": "hybrid"}},
    ]
    result = run_playbook(play(tasks, agent), "--check", "--diff")
    assert result.rc == 0, result.stdout[-3000:]
    assert result.stats()["changed"] == 4
    grow = result.task_results("grow")
    assert grow["diff"]["before"]["memory_mib"] == 512 and grow["diff"]["after"]["memory_mib"] == 1024
    assert {c["field"] for c in grow["changes"]} == {"memory_mib"}
    assert agent_view(agent) == before


def test_diff_shows_before_after(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    run_playbook(play(converge_tasks()[:1], agent))
    result = run_playbook(play([{"name": "grow", "novacron.cloud.vm": {"name": "web-1", "vcpus": 3}}], agent),
                          "--diff", json_output=False)
    assert result.rc == 0, result.stdout[-3000:]
    assert '-    "vcpus": 2' in result.stdout and '+    "vcpus": 3' in result.stdout


def test_bad_parameter_names_the_field(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    result = run_playbook(play([{"name": "bad", "novacron.cloud.vm": {"name": "x1", "memory_mib": 1}}], agent))
    assert result.rc != 0
    res = result.task_results("bad")
    assert res["failed"] and "memory_mib" in res["msg"] and ">= 16" in res["msg"]
    assert res["field"] == "memory_mib"

    typo = run_playbook(play([{"name": "typo", "novacron.cloud.vm": {"name": "x1", "memroy_mib": 512}}], agent))
    assert typo.rc != 0
    assert "memroy_mib" in typo.task_results("typo")["msg"]


def test_unreachable_agent_fails_cleanly(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    tasks = [{"name": "info", "novacron.cloud.node_info": {"url": "http://127.0.0.1:9", "token": "x"}}]
    result = run_playbook(play(tasks, agent))
    assert result.rc != 0
    res = result.task_results("info")
    assert "cannot reach agent at http://127.0.0.1:9" in res["msg"]
    assert "Traceback" not in result.stdout


def test_state_transitions_and_absent(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    run_playbook(play(converge_tasks()[:1], agent))
    tasks = [
        {"name": "pause", "novacron.cloud.vm": {"name": "web-1", "state": "paused"}},
        {"name": "stop", "novacron.cloud.vm": {"name": "web-1", "state": "stopped"}},
        {"name": "remove", "novacron.cloud.vm": {"name": "web-1", "state": "absent"}},
        {"name": "remove again", "novacron.cloud.vm": {"name": "web-1", "state": "absent"}},
        {"name": "info", "novacron.cloud.vm_info": {"name": "web-1"}},
    ]
    result = run_playbook(play(tasks, agent))
    assert result.rc == 0, result.stdout[-3000:]
    assert result.task_results("pause")["vm"]["status"]["actual_state"] == "paused"
    assert result.task_results("stop")["vm"]["status"]["actual_state"] == "stopped"
    assert result.task_results("remove")["changed"] is True
    assert result.task_results("remove again")["changed"] is False
    assert result.task_results("info")["vms"] == []


def test_info_modules(agent, run_playbook) -> None:  # type: ignore[no-untyped-def]
    run_playbook(play(converge_tasks(), agent))
    tasks = [
        {"name": "node", "novacron.cloud.node_info": {}},
        {"name": "web", "novacron.cloud.vm_info": {"labels": {"role": "web"}}},
    ]
    result = run_playbook(play(tasks, agent))
    assert result.rc == 0
    node = result.task_results("node")
    assert node["node"]["node_id"] == "node-1" and node["health"]["status"] == "healthy"
    assert node["node"]["capacity"]["vms"] == 2
    assert [v["name"] for v in result.task_results("web")["vms"]] == ["web-1"]
