"""Test-only stdout callback: the whole run as one JSON document (plays, tasks, hosts, stats).

ansible-core no longer ships a JSON callback (it lives in ansible.posix, which cannot be fetched
here), and the tests need structured results, so they load this one with ANSIBLE_CALLBACK_PLUGINS.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: json_results
type: stdout
short_description: one JSON document for the whole run (tests only)
description: Plays, tasks with per-host results, and stats, printed when the run ends.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_results"

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict] = []

    def v2_playbook_on_play_start(self, play) -> None:  # type: ignore[no-untyped-def]
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:  # type: ignore[no-untyped-def]
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result, **flags) -> None:  # type: ignore[no-untyped-def]
        res = dict(result._result)
        res.update(flags)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = res

    def v2_runner_on_ok(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:  # type: ignore[no-untyped-def]
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats) -> None:  # type: ignore[no-untyped-def]
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, default=str))
