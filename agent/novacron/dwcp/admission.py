"""Admission of connections to the DWCP port before they authenticate: how long they may take, how
many may be at it at once (in all and per source address), and log lines that do not flood.

Anyone who can reach the port can open connections and stall in the TLS handshake; these bounds
keep that from starving the peers that can authenticate. Sans-I/O: the server asks `admit`, calls
`release`, and passes the clock to `Throttle.note`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

# Peek + TLS handshake + HELLO (AMST stream) or migration header (pipe), counted from the accept:
# a few round trips on any link we serve; one deadline, so trickled bytes cannot stretch it.
AUTH_DEADLINE_S = 5.0
# Each such connection holds a socket: well under a soft RLIMIT_NOFILE of 1024, leaving room for the
# agent's own sockets (QEMU, libvirt, authenticated channels).
MAX_UNAUTHENTICATED = 256
# A peer dials an AMST channel's streams all at once (dwcp.transport.max_streams, default 64; the
# internet profile opens 16): fewer slots per source would refuse a peer's own channel.
MAX_UNAUTHENTICATED_PER_SOURCE = 64
# At most one log line per source and kind of refusal per interval; it carries the count.
LOG_INTERVAL_S = 10.0
# Sources the throttle remembers at once: beyond that, expired ones go, then one shared key.
THROTTLE_KEYS = 4096


@dataclass(frozen=True)
class Limits:
    """The bounds above, in one value a server takes (tests pass small ones)."""

    deadline_s: float = AUTH_DEADLINE_S
    total: int = MAX_UNAUTHENTICATED
    per_source: int = MAX_UNAUTHENTICATED_PER_SOURCE
    log_interval_s: float = LOG_INTERVAL_S


def source_of(addr: Any) -> str:
    """The address a peer is counted under: IPv4 as is, IPv6 by its /64 (one host usually holds a
    whole /64, so per-address counting would not limit it)."""
    host = addr[0] if isinstance(addr, tuple) else str(addr)
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Admission:
    """Counts connections that have not authenticated yet, per source and in all."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.by_source: dict[str, int] = {}

    def admit(self, source: str) -> str | None:
        """Take a slot for a new connection from `source`; None if taken, else why not."""
        held = self.by_source.get(source, 0)
        if held >= self.limits.per_source:
            return (
                f"{held} unauthenticated connections from {source} already (at most {self.limits.per_source})"
            )
        if self.total >= self.limits.total:
            return f"{self.total} unauthenticated connections already (at most {self.limits.total})"
        self.by_source[source] = held + 1
        self.total += 1
        return None

    def release(self, source: str) -> None:
        """The connection authenticated, failed or closed: its slot is free."""
        held = self.by_source.get(source, 0)
        if held <= 0:
            return
        self.total -= 1
        if held == 1:
            del self.by_source[source]
        else:
            self.by_source[source] = held - 1


class Throttle:
    """Counts events per key and says when a log line is due: at the first one, then at most once
    per interval, covering every event since the line before."""

    def __init__(self, interval_s: float, max_keys: int = THROTTLE_KEYS) -> None:
        self.interval_s, self.max_keys = interval_s, max_keys
        self._since: dict[Any, tuple[float, int]] = {}  # key -> (time of its last line, events since)

    def note(self, key: Any, now: float) -> int | None:
        """Count one event; the number of events the line due now covers, or None (no line now)."""
        if key not in self._since and len(self._since) >= self.max_keys:
            self._since = {k: v for k, v in self._since.items() if now - v[0] < self.interval_s}
            if len(self._since) >= self.max_keys:
                key = "(other sources)"
        last, count = self._since.get(key, (None, 0))
        count += 1
        if last is None or now - last >= self.interval_s:
            self._since[key] = (now, 0)
            return count
        self._since[key] = (last, count)
        return None
