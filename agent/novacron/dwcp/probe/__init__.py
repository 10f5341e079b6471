"""dwcp/probe: cheap, continuous link measurement (RTT estimator, probe timing, ping wire, TCP_INFO)."""

from novacron.dwcp.probe.rtt import RttEstimator
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
    "RttEstimator",
    "TcpInfo",
    "answer",
    "decode",
    "encode",
    "loss_ratio",
    "parse_tcp_info",
    "tcp_info",
]
