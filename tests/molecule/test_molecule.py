"""`molecule test` of the novacron_agent role against a real target (molecule/default).

Why a wrapper: `make test` runs pytest, and the scenario (debootstrap rootfs in its own
namespaces, converge, idempotence, verify) is the role's end-to-end test. The agent sources are
snapshotted first so edits made while the test runs cannot show up as changes in the idempotence
run. The Debian rootfs and the wheels are cached under /var/cache/novacron-molecule (a fresh
machine builds them: a few minutes more).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.root]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, nsenter, debootstrap)"
    missing = [t for t in ("debootstrap", "unshare", "nsenter", "ip", "tar") if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if not (BIN / "molecule").exists():
        return "molecule is not installed in the virtualenv (requirements-test.txt)"
    return None


def _snapshot(src: Path, dest: Path) -> Path:
    """A copy of the agent's sources without build output."""
    skip = {"build", "__pycache__"}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        return None if any(p in skip or p.endswith(".egg-info") for p in parts) else info

    dest.mkdir(parents=True)
    archive = dest.with_suffix(".tar")
    with tarfile.open(archive, "w") as tar:
        tar.add(src, arcname=".", filter=keep)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_molecule_default_scenario(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update({
        "PATH": f"{BIN}:{env.get('PATH', '')}",
        "NOVACRON_MOLECULE_AGENT_SOURCE": str(_snapshot(REPO / "agent", tmp_path / "agent")),
        "NOVACRON_MOLECULE_SDK_SOURCE": str(_snapshot(REPO / "sdk", tmp_path / "sdk")),
        "ANSIBLE_FORCE_COLOR": "false",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    })
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(name, None)
    result = subprocess.run([str(BIN / "molecule"), "test"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=1800)
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, out[-8000:]
    for action in ("create", "converge", "idempotence", "verify", "destroy"):
        # "[default > verify] Executed: Successful" (plain) or "default ➜ verify: ..." (terminal)
        pattern = rf"default\s*(?:>|➜)\s*{action}\]?: Executed: Successful"
        assert re.search(pattern, out), f"{action} did not succeed:\n{out[-4000:]}"
    # The second converge (idempotence) reported no change: molecule fails the run otherwise, and
    # its recap line says so.
    recaps = re.findall(r"instance\s+:\s+ok=\d+\s+changed=(\d+)", out)
    assert len(recaps) >= 3 and recaps[1] == "0", recaps
