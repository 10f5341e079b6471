"""dwcp/probe: cheap, continuous link measurement as sans-I/O cores (RTT estimator, probe timing and
sizing, ping wire, rate limiting, peers from config). The sockets are a floor up (transport/probe).
"""

from novacron.dwcp.probe.rtt import RecentMin, RttEstimator
from novacron.dwcp.probe.scheduler import ProbeKind, ProbeScheduler
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
    "answer",
    "decode",
    "encode",
]
