"""What a workstation installs: the SDK and both providers in a fresh virtualenv, from this
repository's sources as a user would (`pip install ./sdk ./pulumi_provider ./terraform_provider`),
without the agent daemon or any of its heavy dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAEMON_ONLY = {"novacron-agent", "libvirt-python", "numpy", "fastapi", "uvicorn", "psycopg", "psycopg-binary",
               "hvac", "starlette", "zstandard", "lz4", "prometheus-client"}  # fmt: skip

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(*cmd: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (cmd, done.stdout[-3000:], done.stderr[-3000:])
    return done


def test_sdk_and_providers_install_without_the_daemon(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    report = tmp_path / "report.json"
    sources = [str(REPO / "sdk"), str(REPO / "pulumi_provider"), str(REPO / "terraform_provider")]
    _run(*pip, "install", "--quiet", "--report", str(report), *sources)
    resolved = {p["metadata"]["name"].lower().replace("_", "-") for p in json.loads(report.read_text())["install"]}
    assert {"novacron-sdk", "pydantic", "httpx", "pulumi", "grpcio"} <= resolved, sorted(resolved)
    assert not resolved & DAEMON_ONLY, sorted(resolved & DAEMON_ONLY)
    py = str(venv / "bin" / "python")
    _run(py, "-c", "import novacron_sdk.client, novacron_sdk.models, pulumi_resource_novacron.vm.diff, "
         "novacron_tf.provider")  # both read their generated vm_rules.json on import: it must be installed
    with pytest.raises(subprocess.CalledProcessError):  # the daemon is really not there
        subprocess.run([py, "-c", "import novacron"], check=True, capture_output=True)
    for entry in ("pulumi-resource-novacron", "terraform-provider-novacron"):
        assert (venv / "bin" / entry).exists(), entry
