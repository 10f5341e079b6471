"""Agent boot time: process start to a healthy /health, over N runs, on test:///default.

Baseline in the same run: the bare interpreter start plus the agent's imports (`python -c
"import novacron.runtime.main"`), i.e. what any Python agent pays before its own work begins.
Target from issue 2: median under 1 second.
Usage: .venv/bin/python benchmarks/boot.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tooling.agent import VENV_BIN, mint_token, write_config  # noqa: E402


def boot_once(data_dir: Path) -> tuple[float, float]:
    """Seconds to the ready line, and to the first healthy /health seen by a client."""
    config = write_config(data_dir, "bench")
    mint_token(config)  # creates the key up front, like a provisioned node
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(VENV_BIN / "novacron-agent"), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("novacron-agent ready "):
                ready = time.perf_counter() - t0
                import json

                url = json.loads(line.split(" ", 2)[2])["api_url"] + "/health"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert b'"healthy"' in resp.read()
                return ready, time.perf_counter() - t0
        raise RuntimeError(f"agent exited {proc.wait()} before ready")
    finally:
        proc.terminate()
        proc.wait(10)


def import_baseline() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import novacron.runtime.main, novacron.vms.service"], check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    ready, healthy, base = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            r, h = boot_once(Path(tmp) / f"run{i}")
            ready.append(r)
            healthy.append(h)
            base.append(import_baseline())
    print(f"agent boot on test:///default, {args.runs} runs (seconds)")
    print(f"{'':28}{'median':>10}{'max':>10}")
    print(f"{'start -> ready line':28}{statistics.median(ready):10.3f}{max(ready):10.3f}")
    print(f"{'start -> healthy /health':28}{statistics.median(healthy):10.3f}{max(healthy):10.3f}")
    print(f"{'baseline: python + imports':28}{statistics.median(base):10.3f}{max(base):10.3f}")
    own = statistics.median(healthy) - statistics.median(base)
    print(f"agent's own boot work (median healthy - baseline): {own:.3f} s; target < 1 s: "
          f"{'met' if statistics.median(healthy) < 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
