"""Converge latency through the real REST API: create and no-op re-run for N VMs (test driver).

Baseline in the same run: the same VMs defined and started with raw libvirt-python calls on a
test:///default connection (no API, no store, no diff) — the floor any agent pays.
Usage: .venv/bin/python benchmarks/vm_api.py [--vms 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from novacron_sdk.models.vm import VirtualMachineSpec  # noqa: E402
from tests.tooling.agent import start_agent  # noqa: E402

XML = """<domain type='test'><name>{name}</name><memory unit='MiB'>512</memory>
<vcpu>1</vcpu><os><type>hvm</type></os></domain>"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def raw_libvirt(n: int) -> list[float]:
    import libvirt

    conn = libvirt.open("test:///default")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        dom = conn.defineXML(XML.format(name=f"raw-{i}"))
        dom.create()
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        agent = start_agent(Path(tmp) / "bench", "bench")
        try:
            with agent.client() as client:
                specs = [VirtualMachineSpec(name=f"bench-{i}", vcpus=1, memory_mib=512, labels={"bench": "1"})
                         for i in range(args.vms)]
                create, noop = [], []
                for spec in specs:
                    t0 = time.perf_counter()
                    assert client.put_vm(spec).changed
                    create.append(time.perf_counter() - t0)
                for spec in specs:
                    t0 = time.perf_counter()
                    assert not client.put_vm(spec).changed
                    noop.append(time.perf_counter() - t0)
        finally:
            agent.stop()
    raw = raw_libvirt(args.vms)
    print(f"converge latency over the REST API, {args.vms} VMs on test:///default (ms)")
    print(f"{'':34}{'p50':>9}{'p99':>9}{'mean':>9}")
    for label, values in (("PUT create (agent)", create), ("PUT no-op re-run (agent)", noop),
                          ("baseline: raw libvirt define+start", raw)):
        print(f"{label:34}{pct(values, .5):9.2f}{pct(values, .99):9.2f}{statistics.mean(values) * 1000:9.2f}")
    print(f"ratio create p50 / raw libvirt p50: {pct(create, .5) / pct(raw, .5):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
