"""novacron_dwcp_mode through the real Terraform CLI: pin a mode, see no drift, release on destroy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration]


def test_pin_mode_then_release_on_destroy(tf: Tf, live_agent: Any) -> None:
    client = live_agent.client()
    before = client.get_mode()
    target = "internet" if before.mode != "internet" else "hybrid"
    tf.write(f'''
resource "novacron_dwcp_mode" "this" {{
  mode                  = "{target}"
  v3_rollout_percentage = 40
}}
''', endpoint=live_agent.url, token=live_agent.token)
    tf.init()
    applied = tf.run("apply", "-auto-approve")
    assert "novacron_dwcp_mode.this will be created" in applied
    status = client.get_mode()
    assert (status.mode, status.forced, status.v3_rollout_percentage) == (target, True, 40)
    state = tf.state("novacron_dwcp_mode.this")
    assert state["effective_mode"] == target and state["node"] == live_agent.node_id
    assert state["enable_v3_transport"] == status.enable_v3_transport  # left out: read back, kept

    assert "No changes." in tf.run("plan", "-detailed-exitcode")

    tf.run("destroy", "-auto-approve")
    released = client.get_mode()
    assert released.forced is False and released.auto_detection is True
