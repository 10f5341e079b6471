"""Emulated links between test-bed hosts: profiles, tbf shaping, and the TUN forwarder process.

Why: migration behaviour depends on the path (a datacenter LAN vs. a WAN with 50 ms RTT and
loss), and tests must run on one machine without netem. Bandwidth is shaped with the kernel's
``tbf`` qdisc on each host's egress; delay and random loss come from tun_forwarder.py, a
separate process that moves packets between TUN devices in the hosts' namespaces.

    p = get_profile("internet")   # LinkProfile(delay_ms=25, rate_mbit=1000, loss=0.001): 50 ms RTT
    LinkProfile("lossy", loss=0.2)   # custom profiles are plain values
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._cmd import ToolingError

FORWARDER = Path(__file__).resolve().parent / "tun_forwarder.py"


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class LinkProfile:
    """How the link between hosts behaves, in each direction.

    delay_ms: one-way delay added to every packet (RTT = 2 * delay_ms).
    rate_mbit: egress rate cap per host in Mbit/s (tbf), or None for unshaped.
    loss: probability in [0, 1) that a packet is dropped, per packet and direction.
    """

    name: str
    delay_ms: float = 0.0
    rate_mbit: float | None = None
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"name: must be a non-empty string, got {self.name!r}")
        if not _finite(self.delay_ms) or not 0 <= self.delay_ms <= 10_000:
            raise ValueError(f"delay_ms: must be between 0 and 10000 ms, got {self.delay_ms!r}")
        if self.rate_mbit is not None and (
            not _finite(self.rate_mbit) or not 0.1 <= self.rate_mbit <= 100_000
        ):
            raise ValueError(
                f"rate_mbit: must be None or between 0.1 and 100000 Mbit/s, got {self.rate_mbit!r}"
            )
        if not _finite(self.loss) or not 0 <= self.loss < 1:
            raise ValueError(f"loss: must be a probability in [0, 1), got {self.loss!r}")

    @property
    def rtt_ms(self) -> float:
        """Round-trip time the link adds."""
        return 2 * self.delay_ms

    @property
    def needs_forwarder(self) -> bool:
        """Delay and loss need the userspace forwarder; bandwidth alone does not."""
        return self.delay_ms > 0 or self.loss > 0


PROFILES: dict[str, LinkProfile] = {
    "datacenter": LinkProfile("datacenter"),
    "internet": LinkProfile("internet", delay_ms=25.0, rate_mbit=1000.0, loss=0.001),
    "constrained": LinkProfile("constrained", delay_ms=25.0, rate_mbit=100.0),
}


def get_profile(profile: str | LinkProfile) -> LinkProfile:
    """A LinkProfile from a name in PROFILES (or the profile itself)."""
    if isinstance(profile, LinkProfile):
        return profile
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise ValueError(f"profile: unknown link profile {profile!r}; known: {', '.join(PROFILES)}") from None


def tbf_args(profile: LinkProfile) -> list[str] | None:
    """The ``tc qdisc replace dev X root ...`` arguments that cap egress, or None if unshaped.

    burst: 2 ms worth of bytes but at least 64 KiB (a GSO super-packet must fit);
    latency: 50 ms of queue before tbf drops (a router-like buffer).
    """
    if profile.rate_mbit is None:
        return None
    burst = max(64 * 1024, int(profile.rate_mbit * 1e6 / 8 * 0.002))
    return ["tbf", "rate", f"{profile.rate_mbit:g}mbit", "burst", str(burst), "latency", "50ms"]


class TunForwarder:
    """The forwarder process for one link: start() creates the TUN devices, stop() removes them.

    hosts: (namespace, IPv4 address) per host; the device ``ifname`` appears in each namespace
    once start() returns (unconfigured: the caller adds addresses and brings it up).
    """

    def __init__(
        self, hosts: Sequence[tuple[str, str]], ifname: str, profile: LinkProfile, *, seed: int | None = None
    ):
        if len(hosts) < 2:
            raise ValueError(f"hosts: a link needs at least 2 hosts, got {len(hosts)}")
        self.hosts = list(hosts)
        self.ifname = ifname
        self.profile = profile
        self.seed = seed
        self._proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="nc-fwd-")
        self.stats_file = Path(self._tmp.name) / "stats.json"
        self.log_file = Path(self._tmp.name) / "forwarder.log"
        self._final_stats: dict[str, int] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def start(self, timeout: float = 15.0) -> None:
        cmd = [
            sys.executable, str(FORWARDER), "--ifname", self.ifname,
            "--delay-ms", str(self.profile.delay_ms), "--loss", str(self.profile.loss),
            "--stats-file", str(self.stats_file),
        ]  # fmt: skip
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        for ns, addr in self.hosts:
            cmd += ["--host", f"{ns}={addr}"]
        log = open(self.log_file, "w")  # noqa: SIM115 - the child owns it
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
        log.close()
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and self._proc.poll() is None:
            line = self._proc.stdout.readline()  # the child prints READY or dies
            if line.strip() == "READY":
                return
            if not line:
                break
        err = self.log_file.read_text(errors="replace")[-2000:]
        self.stop()
        raise ToolingError(f"TUN forwarder did not start (got {line!r}): {err}")

    def stats(self, timeout: float = 5.0) -> dict[str, int]:
        """Packet counters: forwarded, dropped_loss, dropped_queue, unroutable, write_errors."""
        if self._proc is None or self._proc.poll() is not None:
            return self._read_stats() or {}
        before = self._stats_time()
        self._proc.send_signal(signal.SIGUSR1)  # asks for a fresh dump of the counters
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._stats_time() != before:
                return self._read_stats() or {}
            time.sleep(0.02)
        raise ToolingError("TUN forwarder did not report its counters")

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the process (its TUN devices vanish with it). Idempotent."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
            if self._proc.stdout:
                self._proc.stdout.close()
            self._final_stats = self._read_stats()
            self._proc = None

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()

    def _stats_time(self) -> float | None:
        try:
            return float(json.loads(self.stats_file.read_text())["time"])
        except (OSError, ValueError, KeyError):
            return None

    def _read_stats(self) -> dict[str, int] | None:
        try:
            data = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return self._final_stats
        return {k: int(v) for k, v in data.items() if k != "time"}
