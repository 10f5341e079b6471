"""What the kernel already knows about a TCP connection (TCP_INFO), decoded (sans-I/O: bytes in).

The kernel measures RTT, its variance, retransmissions and delivery rate for every socket for free,
so the agent reads them instead of generating its own traffic. The one syscall that fetches the
bytes is a floor up (transport/sockopts.py `tcp_info`). Offsets are those of `struct tcp_info` in <linux/tcp.h>
(checked with offsetof on this machine's headers); all fields are host byte order:

    0  u8  tcpi_state             1  u8  tcpi_ca_state        2  u8  tcpi_retransmits
    7  u8  bit0 delivery_rate_app_limited
    8  u32 tcpi_rto (us)         16  u32 tcpi_snd_mss        20  u32 tcpi_rcv_mss
   24  u32 tcpi_unacked          32  u32 tcpi_lost           36  u32 tcpi_retrans
   60  u32 tcpi_pmtu             68  u32 tcpi_rtt (us)       72  u32 tcpi_rttvar (us)
   76  u32 tcpi_snd_ssthresh     80  u32 tcpi_snd_cwnd (segments)
  100  u32 tcpi_total_retrans   104  u64 tcpi_pacing_rate (B/s)
  120  u64 tcpi_bytes_acked     128  u64 tcpi_bytes_received
  136  u32 tcpi_segs_out        140  u32 tcpi_segs_in       148  u32 tcpi_min_rtt (us)
  160  u64 tcpi_delivery_rate (B/s)
  200  u64 tcpi_bytes_sent      208  u64 tcpi_bytes_retrans  228  u32 tcpi_snd_wnd  (232 = sizeof)

Older kernels return a shorter struct; fields past the returned length are None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from novacron_sdk.errors import InvalidInput

TCP_INFO_LEN = 232
TCP_ESTABLISHED = 1

# name -> (offset, struct format); u8 fields first, then the documented layout above.
_LAYOUT: dict[str, tuple[int, str]] = {
    "state": (0, "B"),
    "ca_state": (1, "B"),
    "retransmits": (2, "B"),
    "rto_us": (8, "I"),
    "snd_mss": (16, "I"),
    "rcv_mss": (20, "I"),
    "unacked": (24, "I"),
    "lost": (32, "I"),
    "retrans": (36, "I"),
    "pmtu": (60, "I"),
    "rtt_us": (68, "I"),
    "rttvar_us": (72, "I"),
    "snd_ssthresh": (76, "I"),
    "snd_cwnd": (80, "I"),
    "total_retrans": (100, "I"),
    "pacing_rate": (104, "Q"),
    "bytes_acked": (120, "Q"),
    "bytes_received": (128, "Q"),
    "segs_out": (136, "I"),
    "segs_in": (140, "I"),
    "min_rtt_us": (148, "I"),
    "delivery_rate": (160, "Q"),
    "bytes_sent": (200, "Q"),
    "bytes_retrans": (208, "Q"),
    "snd_wnd": (228, "I"),
}
_APP_LIMITED_OFFSET = 7


@dataclass(frozen=True)
class TcpInfo:
    """A snapshot of one socket's kernel statistics. Rates are bytes/s, times microseconds."""

    state: int
    ca_state: int
    retransmits: int
    delivery_rate_app_limited: bool
    rto_us: int
    snd_mss: int
    rcv_mss: int
    unacked: int
    lost: int
    retrans: int
    pmtu: int
    rtt_us: int
    rttvar_us: int
    snd_ssthresh: int
    snd_cwnd: int
    total_retrans: int
    pacing_rate: int | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    min_rtt_us: int | None = None
    delivery_rate: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None
    snd_wnd: int | None = None

    @property
    def rtt_ms(self) -> float:
        return self.rtt_us / 1000.0

    @property
    def rttvar_ms(self) -> float:
        return self.rttvar_us / 1000.0

    @property
    def delivery_rate_mbps(self) -> float | None:
        """Delivery rate in Mbit/s, or None when unknown or app-limited (it then measures the app)."""
        if self.delivery_rate is None or self.delivery_rate_app_limited or self.delivery_rate == 0:
            return None
        return self.delivery_rate * 8 / 1e6


# Everything up to and including total_retrans has been in the struct since Linux 2.6.
_MIN_LEN = _LAYOUT["total_retrans"][0] + 4


def parse_tcp_info(buf: bytes) -> TcpInfo:
    """Decode the bytes getsockopt(TCP_INFO) returned."""
    if len(buf) < _MIN_LEN:
        raise InvalidInput(f"TCP_INFO needs at least {_MIN_LEN} bytes, got {len(buf)}", field="tcp_info")
    values: dict[str, int | bool | None] = {}
    for name, (offset, fmt) in _LAYOUT.items():
        size = struct.calcsize(fmt)
        values[name] = struct.unpack_from("=" + fmt, buf, offset)[0] if offset + size <= len(buf) else None
    values["delivery_rate_app_limited"] = bool(buf[_APP_LIMITED_OFFSET] & 0x1)
    return TcpInfo(**values)  # type: ignore[arg-type]


def loss_ratio(current: TcpInfo, previous: TcpInfo | None = None) -> float | None:
    """Retransmitted segments / segments sent, over the whole connection or since `previous`.

    Retransmissions are the sender's view of loss (plus spurious retransmits); it is what the
    kernel exposes cheaply. None when nothing was sent in the interval.
    """
    if current.segs_out is None:
        return None
    retrans, segs = current.total_retrans, current.segs_out
    if previous is not None and previous.segs_out is not None:
        retrans -= previous.total_retrans
        segs = (segs - previous.segs_out) & 0xFFFFFFFF  # u32 counter may wrap
    if segs <= 0:
        return None
    return min(1.0, max(0, retrans) / segs)
