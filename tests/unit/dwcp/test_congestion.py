"""Which TCP congestion control a connection gets: the choices pinned, row by row.

Carriers (pipes, AMST channels, a mode switch mid-migration) take it from the node's DWCP mode;
a probe's connection (and a channel asked for "adaptive" itself) from its socket's RTT and
retransmissions. These tables were written against the code before dwcp/congestion.py existed;
the one function and every path that uses it must still give these answers.
"""

from __future__ import annotations

import struct

import pytest

from novacron.config.model import DwcpConfig, TransportConfig
from novacron.dwcp.congestion import resolve_congestion
from novacron.dwcp.mode.profiles import profile_for
from novacron.transport import sockopts
from novacron_sdk.errors import InvalidInput

# (configured algorithm, node mode, what carriers use)
BY_MODE = [
    ("adaptive", "datacenter", "cubic"),
    ("adaptive", "hybrid", "bbr"),
    ("adaptive", "internet", "bbr"),
    ("bbr", "datacenter", "bbr"),
    ("bbr", "hybrid", "bbr"),
    ("bbr", "internet", "bbr"),
    ("cubic", "datacenter", "cubic"),
    ("cubic", "hybrid", "cubic"),
    ("cubic", "internet", "cubic"),
]

# (configured algorithm, the socket's smoothed RTT in ms (None: no TCP_INFO), retransmits, choice)
BY_SOCKET = [
    ("adaptive", None, 0, "cubic"),
    ("adaptive", 0.0, 0, "cubic"),
    ("adaptive", 0.05, 0, "cubic"),
    ("adaptive", 9.999, 0, "cubic"),
    ("adaptive", 10.0, 0, "bbr"),
    ("adaptive", 50.0, 0, "bbr"),
    ("adaptive", 0.05, 1, "bbr"),
    ("adaptive", None, 7, "cubic"),
    ("bbr", None, 0, "bbr"),
    ("bbr", 0.05, 0, "bbr"),
    ("cubic", 50.0, 3, "cubic"),
    ("cubic", None, 0, "cubic"),
]


class FakeSocket:
    """Answers getsockopt(TCP_INFO) with a struct tcp_info holding only tcpi_rtt and
    tcpi_total_retrans (or fails, as a socket without TCP_INFO does)."""

    def __init__(self, rtt_ms: float | None, retransmits: int) -> None:
        self.rtt_ms, self.retransmits = rtt_ms, retransmits

    def getsockopt(self, level: int, option: int, buflen: int = 0) -> bytes:
        if self.rtt_ms is None:
            raise OSError("no TCP_INFO here")
        raw = bytearray(232)
        struct.pack_into("=I", raw, 68, round(self.rtt_ms * 1000))
        struct.pack_into("=I", raw, 100, self.retransmits)
        return bytes(raw[:buflen] if buflen else raw)


@pytest.mark.parametrize(("algo", "mode", "want"), BY_MODE)
def test_carriers_choose_by_the_nodes_mode(algo: str, mode: str, want: str) -> None:
    dwcp = DwcpConfig(transport=TransportConfig(congestion_algo=algo))
    assert profile_for(mode, dwcp).congestion == want  # type: ignore[arg-type]


@pytest.mark.parametrize(("algo", "rtt_ms", "retrans", "want"), BY_SOCKET)
def test_a_connected_socket_chooses_by_its_rtt(algo: str, rtt_ms: float | None, retrans: int, want: str) -> None:
    assert sockopts.choose(algo, FakeSocket(rtt_ms, retrans)) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(("algo", "mode", "want"), BY_MODE)
def test_the_one_function_by_mode(algo: str, mode: str, want: str) -> None:
    transport = TransportConfig(congestion_algo=algo)  # type: ignore[arg-type]
    assert resolve_congestion(transport, mode=mode) == want  # type: ignore[arg-type]
    assert resolve_congestion(algo, mode=mode) == want  # type: ignore[arg-type]  # the setting as passed down
    # the mode is the better-smoothed judgement: a socket's own figures do not override it
    assert resolve_congestion(transport, mode=mode, rtt_ms=80.0, retransmits=9) == want  # type: ignore[arg-type]
    assert resolve_congestion(transport, mode=mode, rtt_ms=0.1) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(("algo", "rtt_ms", "retrans", "want"), BY_SOCKET)
def test_the_one_function_by_socket(algo: str, rtt_ms: float | None, retrans: int, want: str) -> None:
    transport = TransportConfig(congestion_algo=algo)  # type: ignore[arg-type]
    facts = {} if rtt_ms is None else {"rtt_ms": rtt_ms, "retransmits": retrans}  # no TCP_INFO: no facts
    assert resolve_congestion(transport, **facts) == want  # type: ignore[arg-type]


@pytest.mark.parametrize("algo", ["adaptive", "bbr", "cubic"])
@pytest.mark.parametrize("mode", [None, "datacenter", "internet"])
def test_without_the_v3_transport_a_migration_runs_on_cubic(algo: str, mode: str | None) -> None:
    assert resolve_congestion(algo, mode=mode, rtt_ms=80.0, v3_transport=False) == "cubic"  # type: ignore[arg-type]


def test_a_setting_that_is_no_algorithm_is_refused_naming_the_field() -> None:
    for bad in ("reno", "", None, "BBR"):
        with pytest.raises(InvalidInput) as err:
            resolve_congestion(bad)  # type: ignore[arg-type]
        assert err.value.field == "congestion"
