"""Which TCP congestion control a connection gets: the choices pinned, row by row.

Carriers (pipes, AMST channels, a mode switch mid-migration) take it from the node's DWCP mode;
a probe's connection (and a channel asked for "adaptive" itself) from its socket's RTT and
retransmissions. These tables are the behaviour; the code paths below must all agree with them.
"""

from __future__ import annotations

import struct

import pytest

from novacron.config.model import DwcpConfig, TransportConfig
from novacron.dwcp.mode.profiles import profile_for
from novacron.transport import sockopts

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
