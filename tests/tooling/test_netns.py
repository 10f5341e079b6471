"""The network test bed: addresses, emulated delay/loss/bandwidth, congestion control, cleanup."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from tests.tooling._cmd import missing_tools, run
from tests.tooling.link_emulator import LinkProfile, get_profile
from tests.tooling.netns import OWNERS, PREFIX, Testbed, cleanup_stale, testbed_skip_reason
from tests.tooling.sysctl_guard import read_sysctl

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(autouse=True)
def _needs_testbed() -> None:
    if reason := testbed_skip_reason():
        pytest.skip(reason)


def _namespaces() -> set[str]:
    return {line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()}


def _ping(
    tb: Testbed, src: int, dst: int, count: int, interval: float = 0.05
) -> tuple[int, int, float | None]:
    """(sent, received, min RTT in ms) using iputils ping or busybox's."""
    ping = ["ping"] if not missing_tools("ping") else ["busybox", "ping"]
    out = tb.run(
        src, [*ping, "-c", str(count), "-i", str(interval), "-W", "2", tb.addr(dst)], check=False
    ).stdout
    sent, received = map(
        int, re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out).groups()
    )  # type: ignore[union-attr]
    rtt = re.search(r"(?:rtt|round-trip) min/avg/max\S* = ([\d.]+)/", out)
    return sent, received, float(rtt.group(1)) if rtt else None


def test_datacenter_pair_and_cleanup() -> None:
    before = _namespaces()
    with Testbed(2, "datacenter") as tb:
        assert all(h.ns.startswith(PREFIX) for h in tb.hosts) and {h.ns for h in tb.hosts} <= _namespaces()
        assert [tb.addr(0), tb.addr(1)] == ["10.213.0.1", "10.213.0.2"]
        assert f"{tb.addr(1)}/24" in tb.run(1, ["ip", "-br", "addr", "show", "nclink0"]).stdout
        assert "UNKNOWN" in tb.run(0, ["ip", "-br", "link", "show", "lo"]).stdout  # loopback is up
        assert _ping(tb, 0, 1, 3)[1] == 3
        assert tb.link_stats() is None  # a plain veth, no forwarder
        assert tb.socket_buffer_max["wmem_max"] > 0
        sleeper = tb.popen(0, ["sleep", "600"])
    assert sleeper.wait(5) is not None  # close() killed what popen started
    assert _namespaces() == before


def test_delay_profile_adds_its_rtt() -> None:
    profile = get_profile("constrained")
    with Testbed(2, profile) as tb:
        sent, received, rtt = _ping(tb, 0, 1, 5, interval=0.2)
        assert received == sent == 5
        assert rtt is not None and rtt >= profile.rtt_ms  # never faster than the emulated path
        assert tb.link_stats()["forwarded"] >= 10  # type: ignore[index]


def test_loss_profile_loses_some_pings() -> None:
    with Testbed(2, LinkProfile("lossy", loss=0.2), seed=7) as tb:
        sent, received, _ = _ping(tb, 0, 1, 100, interval=0.01)
        assert sent == 100 and 0 < received < 100
        stats = tb.link_stats()
        assert stats is not None and stats["dropped_loss"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "profile",
    [LinkProfile("shaped-veth", rate_mbit=50), get_profile("constrained")],
    ids=["veth-50mbit", "constrained"],
)
def test_tbf_caps_iperf3_throughput(profile: LinkProfile) -> None:
    if missing_tools("iperf3"):
        pytest.skip("needs iperf3")
    with Testbed(2, profile) as tb:
        server = tb.popen(1, ["iperf3", "-s", "-1", "-B", tb.addr(1)])
        _wait_listening(tb, 1, 5201)
        out = tb.run(0, ["iperf3", "-c", tb.addr(1), "-t", "2", "-J"], timeout=60).stdout
        server.wait(10)
    received = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    assert 0 < received < profile.rate_mbit * 1e6 * 1.2  # type: ignore[operator]


def test_congestion_control_cubic_selectable_and_allowed_list_restored() -> None:
    original = read_sysctl("net.ipv4.tcp_allowed_congestion_control")
    probe = (
        "import socket; s = socket.socket(); "
        "s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic'); "
        "print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b'\\0').decode())"
    )
    with Testbed(2, congestion="cubic") as tb:
        assert "cubic" in read_sysctl("net.ipv4.tcp_allowed_congestion_control").split()
        assert tb.run(0, ["sysctl", "-n", "net.ipv4.tcp_congestion_control"]).stdout.strip() == "cubic"
        assert tb.run(1, [sys.executable, "-c", probe]).stdout.strip() == "cubic"
        assert int(tb.run(0, ["sysctl", "-n", "net.ipv4.tcp_wmem"]).stdout.split()[2]) >= 64 << 20
    assert read_sysctl("net.ipv4.tcp_allowed_congestion_control") == original


def test_three_hosts_reach_each_other() -> None:
    for profile in ("datacenter", LinkProfile("slow3", delay_ms=2)):
        with Testbed(3, profile) as tb:
            assert _ping(tb, 0, 2, 2)[1] == 2 and _ping(tb, 2, 1, 2)[1] == 2


def test_cleanup_stale_removes_namespaces_of_dead_runs() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    ns = f"{PREFIX}dead00-a"
    with Testbed(2) as live:
        run(["ip", "netns", "add", ns])
        try:
            OWNERS.mkdir(parents=True, exist_ok=True)
            (OWNERS / ns).write_text(json.dumps({"pid": dead.pid}))  # as a crashed run leaves it
            removed = cleanup_stale()
            assert ns in removed and ns not in _namespaces()
            assert {h.ns for h in live.hosts} <= _namespaces()  # a live test bed is left alone
        finally:
            run(["ip", "netns", "del", ns], check=False)
            (OWNERS / ns).unlink(missing_ok=True)


def test_failed_start_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _namespaces()
    tb = Testbed(2, LinkProfile("bad-rate", rate_mbit=1))
    monkeypatch.setattr("tests.tooling.netns.tbf_args", lambda p: ["tbf", "rate", "nonsense"])
    with pytest.raises(Exception, match="tc"):
        tb.start()
    assert _namespaces() == before


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="^hosts:"):
        Testbed(1)
    with pytest.raises(ValueError, match="^subnet:"):
        Testbed(2, subnet="fd00::/64")
    with pytest.raises(ValueError, match="^profile:"):
        Testbed(2, "moon")


def _wait_listening(tb: Testbed, host: int, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while f":{port}" not in tb.run(host, ["ss", "-ltn"]).stdout:
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on port {port} in {tb.ns(host)}")
        time.sleep(0.05)
