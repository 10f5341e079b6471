"""A test bed of "hosts" in network namespaces joined by an emulated link.

Why: migration over a real network path (addresses, TCP, bandwidth, RTT, loss) without more
machines. Each host is a namespace ``nc-<id>-<letter>`` with loopback up and one link device
``nclink0`` holding 10.213.0.<n>/24 (a private range used only inside these namespaces). The
link is a veth pair (2 hosts) or a bridge in a switch namespace (3+ hosts) when the profile
needs no delay or loss; otherwise TUN devices joined by the forwarder process. Egress is
shaped with tbf when the profile has a rate.

    with Testbed(hosts=2, profile="internet") as tb:
        server = tb.popen(1, ["iperf3", "-s", "-1"])
        tb.run(0, ["iperf3", "-c", tb.addr(1), "-t", "3"])

Namespaces also get large TCP autotuning limits (net.ipv4.tcp_rmem/tcp_wmem, per namespace) and
optionally a default congestion control; net.core.rmem_max/wmem_max are global and read-only in
namespaces, so they are only recorded in ``socket_buffer_max``. close() removes everything and
runs at interpreter exit too; ``cleanup_stale()`` removes what crashed runs left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._cmd import ToolingError, is_root, missing_tools, run
from ._state import STATE_DIR, pid_alive
from .link_emulator import LinkProfile, TunForwarder, get_profile, tbf_args
from .sysctl_guard import ListSysctlHold, read_sysctl

PREFIX = "nc-"
IFNAME = "nclink0"
TCP_BUFFER_MAX = 64 * 1024 * 1024
OWNERS = STATE_DIR / "netns"


@dataclass(frozen=True)
class Host:
    """One test-bed host: its namespace and its address on the link."""

    index: int
    ns: str
    addr: str


def testbed_skip_reason(*tools: str) -> str | None:
    """Why a Testbed cannot be built here (or None); ``tools`` are extra executables needed."""
    if not is_root():
        return "needs root (network namespaces, tc)"
    if missing := missing_tools("ip", "tc", *tools):
        return f"missing {', '.join(missing)}"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun (needed for delay/loss emulation)"
    return None


class Testbed:
    """N hosts in network namespaces joined by a link with the given profile."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        hosts: int = 2,
        profile: str | LinkProfile = "datacenter",
        *,
        subnet: str = "10.213.0.0/24",
        congestion: str | None = None,
        allow_congestion: Sequence[str] = ("cubic",),
        seed: int | None = None,
    ) -> None:
        if isinstance(hosts, bool) or not isinstance(hosts, int) or not 2 <= hosts <= 26:
            raise ValueError(f"hosts: must be an integer between 2 and 26, got {hosts!r}")
        net = ipaddress.ip_network(subnet)
        if net.version != 4 or net.num_addresses < hosts + 2:
            raise ValueError(f"subnet: must be an IPv4 network with room for {hosts} hosts, got {subnet!r}")
        self.profile = get_profile(profile)
        self.id = secrets.token_hex(3)
        self.prefixlen = net.prefixlen
        self.hosts = [
            Host(i, f"{PREFIX}{self.id}-{chr(97 + i)}", str(net.network_address + i + 1))
            for i in range(hosts)
        ]
        self.switch_ns = f"{PREFIX}{self.id}-sw"
        self.congestion = congestion
        self.allowed = list(dict.fromkeys([*allow_congestion, *([congestion] if congestion else [])]))
        self.seed = seed
        self.socket_buffer_max: dict[str, int] = {}
        self._forwarder: TunForwarder | None = None
        self._sysctl: ListSysctlHold | None = None
        self._children: list[subprocess.Popen[str]] = []
        self._created: list[str] = []
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Testbed:
        """Creates namespaces, sysctls and the link. On any failure, undoes everything and raises."""
        if self._started:
            return self
        if reason := testbed_skip_reason():
            raise ToolingError(f"cannot build a Testbed: {reason}")
        cleanup_stale()  # namespaces of crashed runs, whose owner process is gone
        self._started = True
        atexit.register(self.close)
        try:
            if self.allowed:
                self._sysctl = ListSysctlHold("net.ipv4.tcp_allowed_congestion_control", self.allowed)
                self._sysctl.acquire()
            for host in self.hosts:
                self._add_ns(host.ns)
                self._ns_sysctls(host.ns)
            self.socket_buffer_max = {
                "rmem_max": int(read_sysctl("net.core.rmem_max")),
                "wmem_max": int(read_sysctl("net.core.wmem_max")),
            }
            self._build_link()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Deletes namespaces, stops the forwarder and child processes, restores sysctls. Idempotent."""
        for proc in self._children:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        self._children.clear()
        self._teardown_link()
        for ns in reversed(self._created):
            _delete_ns(ns)
        self._created.clear()
        if self._sysctl:
            self._sysctl.release()
            self._sysctl = None
        if self._started:
            atexit.unregister(self.close)
            self._started = False

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_profile(self, profile: str | LinkProfile) -> None:
        """Rebuilds the link with another profile (open connections across the link break)."""
        self.profile = get_profile(profile)
        self._teardown_link()
        self._build_link()

    # -- using it ----------------------------------------------------------------------------
    def host(self, host: int | str | Host) -> Host:
        """A host by index, namespace name, or Host."""
        if isinstance(host, Host):
            return host
        for h in self.hosts:
            if host in (h.index, h.ns):
                return h
        raise ValueError(f"host: no host {host!r} in this test bed ({[h.ns for h in self.hosts]})")

    def ns(self, host: int | str | Host) -> str:
        return self.host(host).ns

    def addr(self, host: int | str | Host) -> str:
        return self.host(host).addr

    def command(self, host: int | str | Host, cmd: Sequence[str] | str) -> list[str]:
        """``cmd`` (argv list, or a shell string) wrapped to run inside the host's namespace."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(
        self, host: int | str | Host, cmd: Sequence[str] | str, *, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command inside the host's namespace and waits for it (output captured as text)."""
        return run(self.command(host, cmd), check=check, timeout=timeout)

    def popen(
        self, host: int | str | Host, cmd: Sequence[str] | str, **kwargs: object
    ) -> subprocess.Popen[str]:
        """Starts a command inside the host's namespace; it is killed by close() if still running."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("text", True)
        proc: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
            self.command(host, cmd), start_new_session=True, **kwargs
        )
        self._children.append(proc)
        return proc

    def link_stats(self) -> dict[str, int] | None:
        """Forwarder packet counters (forwarded, dropped_loss, ...), or None for a plain veth link."""
        return self._forwarder.stats() if self._forwarder else None

    # -- internals ---------------------------------------------------------------------------
    def _add_ns(self, ns: str) -> None:
        run(["ip", "netns", "add", ns])
        self._created.append(ns)
        OWNERS.mkdir(parents=True, exist_ok=True)
        (OWNERS / ns).write_text(json.dumps({"pid": os.getpid()}))
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _ns_sysctls(self, ns: str) -> None:
        values = {
            "net.ipv4.tcp_rmem": f"4096 131072 {TCP_BUFFER_MAX}",
            "net.ipv4.tcp_wmem": f"4096 16384 {TCP_BUFFER_MAX}",
            "net.ipv6.conf.all.disable_ipv6": "1",  # the link is IPv4 only; no v6 chatter
            "net.ipv6.conf.default.disable_ipv6": "1",
        }
        if self.congestion:
            values["net.ipv4.tcp_congestion_control"] = self.congestion
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])

    def _build_link(self) -> None:
        p = self.profile
        if p.needs_forwarder:
            self._forwarder = TunForwarder([(h.ns, h.addr) for h in self.hosts], IFNAME, p, seed=self.seed)
            self._forwarder.start()
            for h in self.hosts:
                run(["ip", "-n", h.ns, "link", "set", IFNAME, "txqueuelen", "4096"])
        elif len(self.hosts) == 2:
            a, b = self.hosts
            run(
                [
                    "ip",
                    "link",
                    "add",
                    IFNAME,
                    "netns",
                    a.ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    IFNAME,
                    "netns",
                    b.ns,
                ]
            )
        else:
            self._add_ns(self.switch_ns)
            sw = self.switch_ns
            run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
            run(["ip", "-n", sw, "link", "set", "br0", "up"])
            for h in self.hosts:
                port = f"p{h.index}"
                run(
                    [
                        "ip",
                        "link",
                        "add",
                        IFNAME,
                        "netns",
                        h.ns,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        port,
                        "netns",
                        sw,
                    ]
                )
                run(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"])
        for h in self.hosts:
            run(["ip", "-n", h.ns, "addr", "add", f"{h.addr}/{self.prefixlen}", "dev", IFNAME])
            run(["ip", "-n", h.ns, "link", "set", IFNAME, "up"])
            if tbf := tbf_args(p):
                run(["ip", "netns", "exec", h.ns, "tc", "qdisc", "replace", "dev", IFNAME, "root", *tbf])

    def _teardown_link(self) -> None:
        if self._forwarder:
            self._forwarder.close()
            self._forwarder = None
        for h in self.hosts:
            if h.ns in self._created:
                run(["ip", "-n", h.ns, "link", "del", IFNAME], check=False)
        if self.switch_ns in self._created:
            _delete_ns(self.switch_ns)
            self._created.remove(self.switch_ns)


def _delete_ns(ns: str) -> None:
    """Kills what still runs in the namespace (started by the test bed's users), then deletes it."""
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    run(["ip", "netns", "del", ns], check=False)
    (OWNERS / ns).unlink(missing_ok=True)


def cleanup_stale(*, force: bool = False) -> list[str]:
    """Deletes ``nc-*`` namespaces left by test beds whose process died; returns their names.

    A namespace is stale when its owner record names a dead process. ``force`` also deletes
    ``nc-*`` namespaces without an owner record (use only when nothing else creates them).
    """
    if missing_tools("ip"):
        return []
    removed = []
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if not ns.startswith(PREFIX):
            continue
        try:
            owner = int(json.loads((OWNERS / ns).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            owner = None
        if (owner is None and force) or (owner is not None and not pid_alive(owner)):
            _delete_ns(ns)
            removed.append(ns)
    return removed
