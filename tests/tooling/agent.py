"""Start real `novacron-agent` processes for tests: free ports, private data dir, a minted token."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@dataclass
class AgentProcess:
    node_id: str
    config_path: Path
    data_dir: Path
    proc: subprocess.Popen[str]
    url: str = ""
    metrics_url: str = ""
    token: str = ""
    output: list[str] = field(default_factory=list)

    def client(self) -> Any:
        from novacron_sdk.client import NovacronClient

        return NovacronClient(self.url, self.token)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def write_config(data_dir: Path, node_id: str, overrides: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {
        "system": {"node_id": node_id, "data_dir": str(data_dir), "log_level": "INFO"},
        "api": {"listen_address": "127.0.0.1", "port": 0},
        "metrics": {"listen_address": "127.0.0.1", "port": 0},
        "dwcp": {"listen_port": 0},
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            doc.setdefault(section, {}).update(values)
        else:
            doc[section] = values
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "novacron.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def mint_token(config_path: Path, ttl: int | None = None, scope: str = "operate") -> str:
    """A client token for the agent of `config_path` (`operate`: what converging and migrating need)."""
    cmd = [str(VENV_BIN / "novacron"), "token", "create", "--config", str(config_path), "--scope", scope]
    if ttl is not None:
        cmd += ["--ttl", str(ttl)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env()).stdout.strip()


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVACRON_")}
    env.update(extra or {})
    return env


def start_agent(data_dir: Path, node_id: str = "node-1", overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None, timeout: float = 60.0,
                wrapper: list[str] | None = None) -> AgentProcess:
    """Start an agent and wait for its ready line; raises with its output if it dies first."""
    config_path = write_config(data_dir, node_id, overrides)
    token = mint_token(config_path)
    cmd = [*(wrapper or []), str(VENV_BIN / "novacron-agent"), "--config", str(config_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(env))
    agent = AgentProcess(node_id, config_path, data_dir, proc, token=token)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            agent.output.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            proc.wait(5)
            raise RuntimeError(f"agent {node_id} exited {proc.returncode}:\n" + "\n".join(agent.output[-40:]))
        if line.startswith("novacron-agent ready "):
            info = json.loads(line.split(" ", 2)[2])
            agent.url = info["api_url"]
            if info.get("metrics_port"):
                agent.metrics_url = f"http://127.0.0.1:{info['metrics_port']}/metrics"
            return agent
    agent.stop()
    raise TimeoutError(f"agent {node_id} not ready in {timeout}s:\n" + "\n".join(agent.output[-40:]))
