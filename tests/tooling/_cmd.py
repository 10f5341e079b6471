"""Running host commands for the test-bed tooling.

Why: every tool here shells out (ip, tc, apt-get, virsh, gcc...). A failure must
say which command failed and what it printed, not just "exit status 1", because
these helpers run unattended in CI on fresh machines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence


class ToolingError(RuntimeError):
    """A test-bed tool could not do its job (the message says which command and why)."""


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120.0,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``cmd`` capturing text output; raises ToolingError (with stderr) when it fails."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, input=input, env=env, cwd=cwd
        )
    except FileNotFoundError as exc:
        raise ToolingError(f"command not found: {cmd[0]!r} (needed for {' '.join(cmd)})") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolingError(f"command timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip()
        raise ToolingError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}: {out}")
    return proc


def missing_tools(*names: str) -> list[str]:
    """Returns the subset of executables in ``names`` that are not on PATH (also /usr/sbin, /sbin)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return [n for n in names if shutil.which(n, path=path) is None]


def is_root() -> bool:
    """True when running as uid 0 (namespaces, tc, libvirtd need it)."""
    return os.geteuid() == 0
