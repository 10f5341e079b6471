"""Fuzz a real agent from its own OpenAPI document with schemathesis.

No input may produce a 5xx, a hang (request timeout), a response that breaks the documented
schema, status code or content type. Runs against a real agent process on the test driver.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling.agent import mint_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
])


@pytest.mark.parametrize("scope", ["read", "operate", "admin"])
def test_openapi_fuzz(agent, tmp_path: Path, scope: str) -> None:  # type: ignore[no-untyped-def]
    """Every public operation with a token of each scope: refusals (403) are documented answers too."""
    token = mint_token(agent.config_path, scope=scope)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is installed by requirements-test.txt"
    cmd = [
        cli, "run", f"{agent.url}/openapi.json",
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", "25",
        "--workers", "1",
        "--seed", "20261127",
        "--request-timeout", "30",
        "--max-time", "90",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    # cwd: schemathesis writes its cache (.schemathesis/) into the working directory: tmp_path, not the tree.
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    tail = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, tail
    # the run really exercised the API: every operation, hundreds of generated cases
    import re

    ops = re.search(r"Operations:\s+(\d+) selected", result.stdout)
    cases = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert ops and int(ops.group(1)) >= 14, tail
    assert cases and int(cases.group(1)) >= 200 and cases.group(1) == cases.group(2), tail
