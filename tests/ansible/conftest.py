"""Run the real ansible-playbook against real agents, with the collection found in-repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    doc: dict[str, Any] | None

    def stats(self, host: str = "localhost") -> dict[str, int]:
        assert self.doc is not None, self.stdout + self.stderr
        return self.doc["stats"][host]

    def task_results(self, name: str, host: str = "localhost") -> dict[str, Any]:
        assert self.doc is not None
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"] == name:
                    return task["hosts"][host]
        raise KeyError(name)


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_LOCAL_TEMP": "/tmp/.ansible-local",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PATH": f"{BIN}:{env.get('PATH', '')}",
    })
    env.update(extra or {})
    return env


@pytest.fixture
def run_playbook(tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(plays: list[dict[str, Any]], *args: str, json_output: bool = True,
            env: dict[str, str] | None = None) -> PlaybookRun:
        path = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
        path.write_text(yaml.safe_dump(plays, sort_keys=False))
        extra = {"ANSIBLE_STDOUT_CALLBACK": "json_results",
                 "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins")} if json_output else {}
        extra.update(env or {})
        cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(extra), timeout=300)
        doc = None
        if json_output:
            try:
                doc = json.loads(result.stdout[result.stdout.index("{"):])
            except ValueError:
                doc = None
        return PlaybookRun(result.returncode, result.stdout, result.stderr, doc)

    return run


def play(tasks: list[dict[str, Any]], agent: Any, **extra: Any) -> list[dict[str, Any]]:
    """One play on localhost with the connection set once through the action group."""
    return [{
        "name": "test",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/novacron.cloud.agent": {"url": agent.url, "token": agent.token}},
        "tasks": tasks,
        **extra,
    }]
