"""Live migration: plain libvirt/QEMU (cubic, bbr, multifd 4 + zstd with bbr) next to NovaCron DWCP,
same guest, same emulated link, same run. Nothing is asserted; the figures are printed and, with
--readme, written into the "## Live migration" section of benchmarks/README.md.

    .venv/bin/python benchmarks/migration.py                       # everything, ~30-60 min
    .venv/bin/python benchmarks/migration.py --profiles datacenter --memory 512 --wss 64 --cap 60

Set-up (root): two hosts in network namespaces joined by the test bed's link emulator, a private
libvirtd and a NovaCron agent in each (tests/integration/migration/cluster.py). Per run a fresh
guest boots on host a (the test bed's kernel + initramfs; its workload fills a working set with
copies of real binaries and text, then rewrites it at the given rate with small in-place edits).
Plain runs drive libvirt directly (the stream crosses the link as one or five TCP connections with
the namespace's congestion control); DWCP runs ask the agent (POST /api/v1/migrations).

Figures: total = wall time until the guest runs on host b (DWCP: request to completed, including
the agents' preparation); downtime = libvirt's measurement on the destination (source paused to
destination resumed, the network included); wire = bytes host a sent on the link (TLS, framing,
control traffic included). A run still going after --cap seconds is cancelled and counted as
"did not finish" (the guest must then still run on host a; the table says if it does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402
import zstandard  # noqa: E402
from migration_report import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    METHODS,
    PROFILES,
    Result,
    emit,
    report_from_json,
)

from novacron.migration.libvirt_ops import set_multifd_compression  # noqa: E402
from novacron.migration.plan import with_multifd_compression  # noqa: E402
from novacron_sdk.models.migration import MigrationRequest  # noqa: E402
from tests.integration.migration.cluster import Cluster, Node, guest_spec, start_cluster  # noqa: E402
from tests.tooling.guest import GuestImage, build_guest, kernel_cmdline  # noqa: E402

PLAIN_PORT = 49152
POLL_S = 0.25  # API polls during a DWCP run: the total comes from finished_at, so slow polls lose nothing
# and load the agents less (each poll is an API request the source agent serves while it relays)


# -- helpers -----------------------------------------------------------------------------------
def tx_bytes(node: Node) -> int:
    import subprocess

    text = subprocess.run(
        ["ip", "netns", "exec", node.ns, "cat", "/sys/class/net/nclink0/statistics/tx_bytes"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(text.strip())


TCP_EVENTS = ("RetransSegs", "TCPLossProbes", "TCPTimeouts", "TCPSpuriousRTOs")


def tcp_events(node: Node) -> dict[str, int]:
    """The host's TCP retransmission counters (/proc/net/snmp, netstat): --verbose prints their change
    over a run, to tell a tail loss (a timeout at the switch-over) from the agents' own delays."""
    import subprocess

    text = subprocess.run(["ip", "netns", "exec", node.ns, "cat", "/proc/net/snmp", "/proc/net/netstat"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines = text.splitlines()
    found: dict[str, int] = {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.split(":")[0] in ("Tcp", "TcpExt"):
            found.update(zip(names.split()[1:], map(int, values.split()[1:]), strict=False))
    return {k: found.get(k, 0) for k in TCP_EVENTS}


def print_tcp(node: Node, before: dict[str, int]) -> None:
    after = tcp_events(node)
    print(f"    TCP at {node.node_id}: " + ", ".join(f"{k} {after[k] - before[k]}" for k in TCP_EVENTS), flush=True)


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (command name, CPU seconds, user + system) of every live process: --verbose prints the
    difference over a run, summed per command, to show who spent the 2 cores. Per pid, because a
    kernel worker's name changes with its work queue ("kworker/1:0-events"): keyed by name, a worker
    seen under another one counted its whole lifetime as the run's. A process that ended during the
    run (the source QEMU) is not in it."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        name = comm.split("-", 1)[0] if comm.startswith("kworker/") else comm
        out[int(stat.parent.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def print_cpu(before: dict[int, tuple[str, float]]) -> None:
    spent: dict[str, float] = {}
    for pid, (name, cpu) in cpu_by_process().items():  # a process started during the run: all its CPU counts
        spent[name] = spent.get(name, 0.0) + cpu - before.get(pid, (name, 0.0))[1]
    top = sorted(((v, k) for k, v in spent.items()), reverse=True)
    print("    CPU s: " + ", ".join(f"{k} {v:.2f}" for v, k in top[:7] if v >= 0.05), flush=True)


def set_congestion(cluster: Cluster, algo: str) -> None:
    import subprocess

    for n in cluster.nodes:
        subprocess.run(["ip", "netns", "exec", n.ns, "sysctl", "-q", "-w", f"net.ipv4.tcp_congestion_control={algo}"],
                       check=True)  # fmt: skip


def plain_xml(image: GuestImage, name: str, memory_mib: int, cmdline: str, serial: Path) -> str:
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{image.kernel}</kernel><initrd>{image.initrd}</initrd>
<cmdline>{cmdline}</cmdline></os><features><acpi/><apic/></features><clock offset='utc'/>
<devices><serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial>
<memballoon model='virtio'/></devices></domain>"""


# what the mode detection must settle on per link; None: either of two (the internet link sits on
# the classifier's thresholds, RTT 50 ms and 1 Gbit/s, and measures as hybrid or internet)
SETTLED_MODE = {"datacenter": "datacenter", "internet": None, "constrained": "internet"}


def wait_for_mode(cluster: Cluster, profile: str, timeout: float = 90.0, steady: int = 10) -> None:
    """After a link change, until the source agent's mode detection has settled on the new link (a
    fixed 10 s sometimes caught it on its way, in hybrid, with half the streams). For the internet
    link: out of datacenter and one mode for `steady` polls 1 s apart."""
    want = SETTLED_MODE[profile]
    deadline = time.monotonic() + timeout
    history: list[str] = []
    with cluster.node("node-a").client(timeout=30) as c:
        while time.monotonic() < deadline:
            history.append(c.get_mode().mode)
            last = history[-steady:]
            if history[-1] == want or (
                want is None and len(last) == steady and len(set(last)) == 1 and last[0] != "datacenter"
            ):
                print(f"[{profile}] agents settled on mode {history[-1]!r}", flush=True)
                return
            time.sleep(1.0)
    print(f"[{profile}] the agents' mode did not settle in {timeout:g} s: {history[-steady:]}", flush=True)


def probes_done(cluster: Cluster) -> float:
    """Bytes the source agent's bandwidth probes have sent so far (its Prometheus counter)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(cluster.node("node-a").metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        s.value for fam in text_string_to_metric_families(text) for s in fam.samples
        if s.name == "dwcp_probe_bytes_total" and s.labels.get("kind") == "bandwidth"
    )  # fmt: skip


def wait_for_link_figures(cluster: Cluster, profile: str, probes: int = 2, timeout: float = 120.0) -> None:
    """After a link change, until the source agent has probed the new link's bandwidth `probes`
    times (every 30 s): DWCP chooses multifd from that figure, and a figure from the previous link
    would choose for the wrong one (an agent whose link changes under it is wrong for up to one
    probe interval, too)."""
    deadline, seen, last = time.monotonic() + timeout, 0, probes_done(cluster)
    while seen < probes and time.monotonic() < deadline:
        time.sleep(1.0)
        now = probes_done(cluster)
        seen, last = seen + (now != last), now
    with cluster.node("node-a").client(timeout=30) as c:
        peers = [(p.node_id, p.bandwidth_mbps, p.predicted_mbps) for p in c.get_mode().peers]
    print(f"[{profile}] {seen} bandwidth probes of the new link; the agent's figures (measured, predicted "
          f"Mbit/s): {peers}", flush=True)


def wait_ready(log: Any, settle_s: float) -> None:
    log.wait_for(r"^READY", timeout=600)
    time.sleep(settle_s)  # let the workload reach its steady dirtying rate


# -- memory content ----------------------------------------------------------------------------
def dump_ratio(cluster: Cluster, image: GuestImage, args: argparse.Namespace, work: Path) -> dict[str, float]:
    """zstd-1 ratio of a raw memory dump of the benchmark guest (and of its non-zero pages)."""
    a = cluster.node("node-a")
    conn = libvirt.open(a.libvirt.uri)
    serial = work / "dump-serial.log"
    dom = conn.createXML(plain_xml(image, "bench-dump", args.memory, kernel_cmdline(args.wss, args.rate), serial), 0)
    try:
        from tests.tooling.serial_log import SerialLog

        wait_ready(SerialLog(serial), args.settle)
        path = work / "guest.mem"
        dom.coreDumpWithFormat(str(path), libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, libvirt.VIR_DUMP_MEMORY_ONLY)
        total = nonzero = compressed = compressed_nz = 0
        zero = bytes(4096)
        cctx, cctx_nz = zstandard.ZstdCompressor(level=1), zstandard.ZstdCompressor(level=1)
        sink, sink_nz = _Counter(), _Counter()
        with open(path, "rb") as f, cctx.stream_writer(sink) as w, cctx_nz.stream_writer(sink_nz) as wnz:
            while chunk := f.read(1 << 22):
                total += len(chunk)
                w.write(chunk)
                pages = [chunk[i : i + 4096] for i in range(0, len(chunk), 4096)]
                nz = b"".join(p for p in pages if p != zero)
                nonzero += len(nz)
                wnz.write(nz)
            w.flush(zstandard.FLUSH_FRAME)
            wnz.flush(zstandard.FLUSH_FRAME)
            compressed, compressed_nz = sink.n, sink_nz.n
        path.unlink()
        return {
            "dump_bytes": total, "zero_fraction": round(1 - nonzero / total, 3),
            "zstd1_ratio": round(total / compressed, 2), "zstd1_ratio_nonzero": round(nonzero / compressed_nz, 2),
        }  # fmt: skip
    finally:
        dom.destroy()
        conn.close()


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes) -> int:
        self.n += len(data)
        return len(data)

    def flush(self) -> None:
        pass


# -- runs --------------------------------------------------------------------------------------
def run_plain(cluster: Cluster, image: GuestImage, profile: str, method: str, args: argparse.Namespace,
              work: Path) -> Result:  # fmt: skip
    a, b = cluster.node("node-a"), cluster.node("node-b")
    from tests.tooling.serial_log import SerialLog

    set_congestion(cluster, "cubic" if method == "plain-cubic" else "bbr")
    multifd = method.startswith("multifd4-zstd-bbr")
    name = f"bench-{method}"
    serial = work / f"{profile}-{method}.log"
    sconn, dconn = libvirt.open(a.libvirt.uri), libvirt.open(b.libvirt.uri)
    dom = sconn.createXML(plain_xml(image, name, args.memory, kernel_cmdline(args.wss, args.rate), serial), 0)
    log = SerialLog(serial)
    try:
        wait_ready(log, args.settle)
        dom.migrateSetMaxDowntime(300, 0)
        params: dict[str, Any] = {
            libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{b.link_addr}:{PLAIN_PORT}",
            libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: b.link_addr,
            libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 1 << 20,  # lift QEMU's default cap
        }
        flags = libvirt.VIR_MIGRATE_LIVE
        if multifd:  # what a libvirt 9.0 user must do by hand for zstd: the agent's own two steps
            flags |= libvirt.VIR_MIGRATE_PARALLEL
            params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = 4
            live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE)
            params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = with_multifd_compression(live, "zstd")
            set_multifd_compression(dom, "zstd")
        if method.endswith("-tls"):
            flags |= libvirt.VIR_MIGRATE_TLS
            params[libvirt.VIR_MIGRATE_PARAM_TLS_DESTINATION] = "node-b"
        before = tx_bytes(a)
        cpu0, tcp0 = cpu_by_process(), tcp_events(a)
        box: dict[str, Any] = {}

        def go() -> None:
            try:
                box["dom"] = dom.migrate3(dconn, params, flags)
            except libvirt.libvirtError as exc:
                box["error"] = exc.get_error_message()

        t0 = time.monotonic()
        th = threading.Thread(target=go, daemon=True)
        th.start()
        th.join(args.cap)
        if th.is_alive():
            dom.abortJob()
            th.join(60)
        total = time.monotonic() - t0
        wire = tx_bytes(a) - before
        if "dom" in box:
            stats = box["dom"].jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
            if args.verbose:
                print_cpu(cpu0)
                print_tcp(a, tcp0)
                print(f"    libvirt job: elapsed {stats.get('time_elapsed')} ms, downtime {stats.get('downtime')} ms, "
                      f"memory {stats.get('memory_processed', 0) / 1e6:.0f} MB", flush=True)
            beat = log.last_heartbeat()
            log.wait_for_heartbeat_after(beat.counter if beat else 0, timeout=60)
            where = "b" if not log.kernel_errors() and not log.corruption() else "b, guest broken"
            elapsed = stats.get("time_elapsed")
            return Result(profile, method, True, round(total, 2), stats.get("downtime"), wire, where,
                          qemu_s=elapsed / 1000 if elapsed is not None else None)  # fmt: skip
        beat = log.last_heartbeat()
        log.wait_for_heartbeat_after(beat.counter if beat else 0, timeout=60)
        state = dom.state()[0]
        where = "a" if state == libvirt.VIR_DOMAIN_RUNNING else f"a, state {state}"
        return Result(profile, method, False, None, None, wire, where, box.get("error", ""))
    finally:
        for conn in (sconn, dconn):
            with contextlib.suppress(libvirt.libvirtError):
                conn.lookupByName(name).destroy()
        sconn.close()
        dconn.close()


def run_multifd_direct(cluster: Cluster, image: GuestImage, profile: str, args: argparse.Namespace,
                       work: Path) -> Result:  # fmt: skip
    """QEMU multifd (4 channels) with zstd, driven over QMP: QEMU alone, none of libvirt's set-up and
    tear-down (the libvirt-driven run of the same method is run_plain's)."""
    from tests.tooling.qemu_direct import DirectGuest

    a, b = cluster.node("node-a"), cluster.node("node-b")
    set_congestion(cluster, "bbr")
    cmdline = kernel_cmdline(args.wss, args.rate)
    src = DirectGuest(image, work / f"{profile}-mfd-src", memory_mib=args.memory, cmdline=cmdline)
    dst = DirectGuest(image, work / f"{profile}-mfd-dst", memory_mib=args.memory, cmdline=cmdline)
    src.cmd = ["ip", "netns", "exec", a.ns, *src.cmd]
    dst.cmd = ["ip", "netns", "exec", b.ns, *dst.cmd, "-incoming", "defer"]
    caps = [{"capability": "multifd", "state": True}]
    params = {"multifd-channels": 4, "multifd-compression": "zstd"}
    try:
        src.start()
        dst.start()
        wait_ready(src.serial, args.settle)
        for g in (src, dst):
            g.qmp("migrate-set-capabilities", capabilities=caps)
            g.qmp("migrate-set-parameters", **params)
        dst.qmp("migrate-incoming", uri=f"tcp:{b.link_addr}:{PLAIN_PORT}")
        src.qmp("migrate-set-parameters", **{"max-bandwidth": 1 << 40, "downtime-limit": 300})
        before = tx_bytes(a)
        t0 = time.monotonic()
        src.qmp("migrate", uri=f"tcp:{b.link_addr}:{PLAIN_PORT}")
        info: dict[str, Any] = {}
        while time.monotonic() - t0 < args.cap:
            info = src.qmp("query-migrate")
            if info.get("status") in ("completed", "failed"):
                break
            time.sleep(0.1)
        total = time.monotonic() - t0
        if info.get("status") != "completed":
            with contextlib.suppress(Exception):
                src.qmp("migrate_cancel")
            time.sleep(2)
            wire = tx_bytes(a) - before
            beat = src.serial.last_heartbeat()
            src.serial.wait_for_heartbeat_after(beat.counter if beat else 0, timeout=60)
            return Result(profile, "multifd4-zstd-bbr-qmp", False, None, None, wire, "a", "QEMU over QMP")
        wire = tx_bytes(a) - before
        dst.serial.wait_for_heartbeat_after(0, timeout=60)
        ok = not dst.serial.kernel_errors() and not dst.serial.corruption()
        qt = info.get("total-time")
        return Result(profile, "multifd4-zstd-bbr-qmp", True, round(total, 2), info.get("downtime"), wire,
                      "b" if ok else "b, guest broken", "QEMU over QMP; downtime: QEMU's own figure",
                      qemu_s=qt / 1000 if qt is not None else None)  # fmt: skip
    finally:
        src.kill()
        dst.kill()


def run_dwcp(cluster: Cluster, image: GuestImage, profile: str, args: argparse.Namespace, method: str) -> Result:
    """One migration asked of the agent; "dwcp-multifd4" adds multifd_channels=4 to --dwcp-options."""
    a, b = cluster.node("node-a"), cluster.node("node-b")
    name = "bench-dwcp"
    spec = guest_spec(image, name, wss_mb=args.wss, rate=args.rate, memory_mib=args.memory)
    with a.client(timeout=300) as c:
        c.put_vm(spec)
        log = a.console_log(name)
        wait_ready(log, args.settle)
        mode = c.get_mode().mode
        before = tx_bytes(a)
        cpu0, tcp0 = cpu_by_process(), tcp_events(a)
        t0, sent_at = time.monotonic(), time.time()
        options = {**args.dwcp_options, **({"multifd_channels": 4} if method == "dwcp-multifd4" else {})}
        m = c.create_migration(MigrationRequest(vm=name, destination="node-b", options=options))
        while m.phase not in ("completed", "failed", "cancelled"):
            if time.monotonic() - t0 > args.cap:
                m = c.cancel_migration(m.id)
                break
            time.sleep(POLL_S)
            m = c.get_migration(m.id)
        total = time.monotonic() - t0
        if m.finished_at is not None:  # the agent's own clock: polling the API added 25-50 ms
            total = m.finished_at.timestamp() - sent_at
        wire = tx_bytes(a) - before
        if args.verbose:
            print_cpu(cpu0)
            print_tcp(a, tcp0)
            for node in (a, b):
                assert node.agent is not None
                for line in node.agent.output:
                    if m.id[:8] in line:
                        print(f"    {node.node_id}: {line}", flush=True)
        p = m.progress
        multifd = f"multifd {m.options.multifd_channels}" if m.options.multifd_channels else "no multifd"
        detail = (f"mode {mode}, {multifd}, {p.streams} streams, HDE ratio {p.compression_ratio:.2f}, "
                  f"peak throttle {p.throttle_percent}%, {m.error or ''}").rstrip(", ")  # fmt: skip
    if m.phase == "completed":
        dlog = b.console_log(name)
        dlog.wait_for_heartbeat_after(0, timeout=60)
        ok = not dlog.kernel_errors() and not dlog.corruption()
        with b.client(timeout=120) as c:
            c.delete_vm(name, force_stop=True)
        return Result(profile, method, True, round(total, 2), p.downtime_ms, wire, "b" if ok else "b, guest broken",
                      detail, qemu_s=p.elapsed_s)  # fmt: skip
    beat = log.last_heartbeat()
    log.wait_for_heartbeat_after(beat.counter if beat else 0, timeout=60)
    where = "a" if a.virsh_state(name) == "running" and b.virsh_state(name) == "missing" else "inconsistent"
    with a.client(timeout=120) as c:
        c.delete_vm(name, force_stop=True)
    return Result(profile, method, False, None, None, wire, where, detail)


# -- report ------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--memory", type=int, default=2048, help="guest RAM, MiB")
    ap.add_argument("--wss", type=int, default=256, help="working set, MiB")
    ap.add_argument("--rate", type=int, default=29, help="working-set rewrite rate, MiB/s (29 MiB/s = 30 MB/s)")
    ap.add_argument("--cap", type=float, default=300.0, help="seconds before a run counts as did-not-finish")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds of workload after READY before migrating")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (medians reported); a cell that does "
                    "not finish once is not run again")
    ap.add_argument("--readme", type=Path, default=None, help="write the table into this README")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--verbose", action="store_true", help="print the agents' migration log lines")
    ap.add_argument("--dwcp-options", type=json.loads, default={},
                    help='MigrationOptions for the DWCP runs as JSON, e.g. \'{"multifd_channels": 4}\'')
    ap.add_argument("--from-json", type=Path, nargs="+", default=None,
                    help="no runs: rebuild the table from earlier --json files (later files replace earlier "
                    "files' cells), e.g. after re-running one profile")  # fmt: skip
    args = ap.parse_args()
    if args.from_json:
        return report_from_json(args)
    image = build_guest()
    work = Path(tempfile.mkdtemp(prefix="nc-bench-", dir="/var/tmp"))
    profiles = [p for p in args.profiles.split(",") if p]
    methods = [m for m in args.methods.split(",") if m]
    cluster = start_cluster(work / "cluster", profile=profiles[0],
                            dwcp={"transport": {"congestion_algo": "adaptive"}},
                            node_overrides={n: {"hypervisor": {"max_memory_mib": max(args.memory, 1024)}}
                                            for n in ("node-a", "node-b")})  # fmt: skip
    results: list[Result] = []
    try:
        dump = dump_ratio(cluster, image, args, work)
        print(f"guest memory dump: {json.dumps(dump)}", flush=True)
        for i, profile in enumerate(profiles):
            if cluster.testbed.profile.name != profile:
                cluster.testbed.set_profile(profile)
                wait_for_mode(cluster, profile)
                wait_for_link_figures(cluster, profile)
            elif i == 0:
                wait_for_link_figures(cluster, profile, probes=1)
            dnf: set[str] = set()
            for rep in range(args.repeat):  # round-robin: the machine's drift hits every method alike
                for method in methods:
                    if method in dnf:
                        continue  # one cancelled run is proof enough; do not spend another --cap on it
                    print(f"[{profile}] {method} run {rep + 1}/{args.repeat} ...", flush=True)
                    if method.startswith("dwcp"):
                        r = run_dwcp(cluster, image, profile, args, method)
                    elif method == "multifd4-zstd-bbr-qmp":
                        r = run_multifd_direct(cluster, image, profile, args, work)
                    else:
                        r = run_plain(cluster, image, profile, method, args, work)
                    results.append(r)
                    if not r.finished:
                        dnf.add(method)
                    print(f"[{profile}] {method}: {json.dumps(asdict(r))}", flush=True)
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    emit(results, dump, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
