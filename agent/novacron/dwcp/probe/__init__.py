"""dwcp/probe: cheap, continuous link measurement (RTT estimator, probe timing, ping wire, TCP_INFO).

Sans-I/O cores are exported here; the asyncio adapters are imported from their modules so this
package stays importable from dwcp/mode without a cycle: server.ProbeServer (the endpoint every
agent serves), client (ping session, bandwidth probe), runner.ProbeRunner (probes the peers and
feeds ModeService and PBA), targets (peers from config).
"""

from novacron.dwcp.probe.rtt import RecentMin, RttEstimator
from novacron.dwcp.probe.scheduler import ProbeKind, ProbeScheduler
from novacron.dwcp.probe.tcpinfo import TcpInfo, loss_ratio, parse_tcp_info, tcp_info
from novacron.dwcp.probe.wire import Ping, Pinger, Pong, ProbeWireError, answer, decode, encode

__all__ = [
    "Ping",
    "Pinger",
    "Pong",
    "ProbeKind",
    "ProbeScheduler",
    "ProbeWireError",
    "RecentMin",
    "RttEstimator",
    "TcpInfo",
    "answer",
    "decode",
    "encode",
    "loss_ratio",
    "parse_tcp_info",
    "tcp_info",
]
