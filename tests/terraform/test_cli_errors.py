"""Bad input and failures through the real Terraform CLI: each names the attribute and the reason."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration]


def _diagnostics(out: str) -> list[str]:
    """Terraform's 'Error: ...' blocks, one string each (summary, source snippet, detail)."""
    blocks = out.split("Error: ")[1:]
    return [b.strip() for b in blocks]


def test_invalid_arguments_fail_validation_naming_each_attribute(tf: Tf) -> None:
    tf.write('''
resource "novacron_vm" "bad" {
  name       = "-starts-with-dash"
  memory_mib = 8
  labels     = { "bad key!" = "x" }
  disks {
    name = "root"
  }
  networks {
    network = "default"
    mac     = "not-a-mac"
  }
}
''', endpoint="http://127.0.0.1:9", token="unused")
    tf.init()
    result = tf.run("validate", expect=1)
    diags = _diagnostics(result.out)
    expected = {  # summary -> the offending line Terraform quotes, and the reason
        "Invalid value for name": ('name       = "-starts-with-dash"', "pattern"),
        "Invalid value for memory_mib": ("memory_mib = 8", "greater than or equal to 16"),
        "Invalid value for labels": ('labels     = { "bad key!" = "x" }', "must match"),
        "Invalid value for disks[0]": ("disks {", "one of size_gib or base_image is required"),
        "Invalid value for networks[0].mac": ('mac     = "not-a-mac"', "pattern"),
    }
    for summary, (line, reason) in expected.items():
        block = next((d for d in diags if d.startswith(summary)), None)
        assert block is not None, f"no diagnostic {summary!r} in:\n{result.out}"
        assert line in block and reason in block, block
    assert len(diags) == len(expected), result.out


def test_agent_side_rejection_is_reported_at_plan_on_the_attribute(tf: Tf, live_agent: Any) -> None:
    tf.write('''
resource "novacron_vm" "img" {
  name = "tf-missing-image"
  disks {
    name       = "root"
    base_image = "/nonexistent/image.qcow2"
  }
}
''', endpoint=live_agent.url, token=live_agent.token)
    tf.init()
    result = tf.run("plan", expect=1)
    (diag,) = _diagnostics(result.out)
    assert diag.startswith("Invalid input: disks[0].base_image")
    assert 'base_image = "/nonexistent/image.qcow2"' in diag and "inside hypervisor.image_dirs" in diag
    assert live_agent.client().get_vm("tf-missing-image") is None


def test_unreachable_agent_fails_cleanly(tf: Tf) -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused, and no one
        held.bind(("127.0.0.1", 0))  # else can take the port while the test runs
        endpoint = f"http://127.0.0.1:{held.getsockname()[1]}"
        tf.write('resource "novacron_vm" "x" {\n  name = "tf-nowhere"\n}\n', endpoint=endpoint, token="t")
        tf.init()
        result = tf.run("plan", expect=1)
    diags = _diagnostics(result.out)
    assert len(diags) == 1, result.out
    assert diags[0].startswith("NovaCron agent unreachable") and endpoint in diags[0]
    assert "Check the provider's `endpoint`" in diags[0].replace("\n", " ")
    assert "Internal error" not in result.out and "Plugin did not respond" not in result.out


def test_wrong_token_says_so(tf: Tf, live_agent: Any) -> None:
    tf.write('data "novacron_node" "here" {}\n', endpoint=live_agent.url, token="not-a-token")
    tf.init()
    result = tf.run("plan", expect=1)
    (diag,) = _diagnostics(result.out)
    assert diag.startswith("NovaCron agent refused the token")


def test_missing_endpoint_names_the_provider_attribute(tf: Tf) -> None:
    (tf.dir / "main.tf").write_text(
        'terraform {\n  required_providers {\n    novacron = { source = "novacron/novacron" }\n  }\n}\n'
        'provider "novacron" {}\n'
        'data "novacron_node" "here" {}\n')
    tf.init()
    result = tf.run("plan", expect=1)
    (diag,) = _diagnostics(result.out)
    assert diag.startswith("Missing agent endpoint") and "NOVACRON_ENDPOINT" in diag
