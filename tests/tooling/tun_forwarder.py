"""The emulated link's packet forwarder: TUN devices in several namespaces, delay and loss between them.

Why a userspace forwarder: this kernel has no netem qdisc, so delay and random loss are added
here. Why a separate process: a test process busy with its own threads (GIL) would add jitter.
It is a hub: each namespace gets one TUN device (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR, so reads and
writes are IP packets behind a virtio-net header); a packet read from one device is written to
the device whose namespace owns the IPv4 destination, ``--delay-ms`` later, unless dropped with
probability ``--loss``. The delay is constant, so one FIFO queue keeps packets in order.
TCP segmentation offload is on, so a read may be a GSO super-packet of up to 64 KiB (~45
segments): moving those instead of 1500-byte packets lets this Python loop carry ~3 Gbit/s at
25 ms instead of ~0.5. Such a super-packet is dropped whole with the probability that at least
one of its segments would be lost, which keeps the share of lost bytes right but makes losses
bursty (ICMP and small packets see exactly ``--loss``).

Run by link_emulator.TunForwarder (as root):
    python tun_forwarder.py --ifname nclink0 --delay-ms 25 --loss 0.001 \
        --host nc-ab12cd-a=10.213.0.1 --host nc-ab12cd-b=10.213.0.2 --stats-file /run/x.json
It prints "READY" once every device exists, writes counters to --stats-file on SIGUSR1 and at
exit, and exits on SIGTERM/SIGINT or within 0.5 s of its parent's death.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import fcntl
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUNSETOFFLOAD = 0x400454D0
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
VNET_HDR = 10  # struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
CLONE_NEWNET = 0x40000000
MAX_QUEUE = 200_000  # packets in flight; beyond this the link drops (like a full router queue)

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(ns_name: str) -> None:
    fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(ns_name: str, ifname: str) -> int:
    """Creates a TUN device named ``ifname`` inside namespace ``ns_name``; returns its fd.

    The device belongs to the namespace the process is in when /dev/net/tun is opened.
    """
    _setns(ns_name)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
    # Let the kernel hand over (and take back) TCP segments up to 64 KiB with checksum offload:
    # ~40x fewer packets to move than at MTU size, which is what lets Python keep up.
    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
    return fd


class Stats:
    def __init__(self) -> None:
        self.forwarded = 0
        self.dropped_loss = 0
        self.dropped_queue = 0
        self.unroutable = 0
        self.write_errors = 0

    def dump(self, path: str | None) -> None:
        if not path:
            return
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(vars(self) | {"time": time.time()}, fh)
        os.replace(tmp, path)


def _unit_loss(pkt: bytes, loss: float) -> float:
    """Drop probability for one read: a GSO super-packet of n segments is lost as a whole with
    probability 1-(1-loss)^n, so the expected share of lost bytes matches per-segment loss."""
    gso_type, hdr_len, gso_size = pkt[1], *struct.unpack_from("<HH", pkt, 2)
    if gso_type == 0 or gso_size == 0:
        return loss
    segments = -(-(len(pkt) - VNET_HDR - hdr_len) // gso_size)
    return 1.0 - (1.0 - loss) ** max(1, segments)


def serve(
    fds: dict[bytes, int], delay: float, loss: float, rng: random.Random, stats: Stats, stats_file: str | None
) -> None:
    """The forwarding loop; returns on SIGTERM/SIGINT."""
    stop = False
    dump = False

    def on_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    def on_usr1(*_: object) -> None:
        nonlocal dump
        dump = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_usr1)
    ep = select.epoll()
    for fd in fds.values():
        ep.register(fd, select.EPOLLIN)
    queue: collections.deque[tuple[float, int, bytes]] = collections.deque()
    parent, next_check = os.getppid(), 0.0
    while not stop:
        if time.monotonic() >= next_check:  # never outlive the test process that started us
            if os.getppid() != parent:
                break
            next_check = time.monotonic() + 0.5
        if dump:
            dump = False
            stats.dump(stats_file)
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 0.5
        try:
            events = ep.poll(timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            for _ in range(256):  # drain a burst, then let the other side have a turn
                try:
                    pkt = os.read(fd, 65536 + VNET_HDR + 1024)
                except (BlockingIOError, InterruptedError):
                    break
                if len(pkt) < VNET_HDR + 20 or pkt[VNET_HDR] >> 4 != 4:
                    stats.unroutable += 1  # IPv6 and junk: the link is IPv4 only
                    continue
                out = fds.get(pkt[VNET_HDR + 16 : VNET_HDR + 20])
                if out is None or out == fd:
                    stats.unroutable += 1
                    continue
                if loss and rng.random() < _unit_loss(pkt, loss):
                    stats.dropped_loss += 1
                    continue
                if len(queue) >= MAX_QUEUE:
                    stats.dropped_queue += 1
                    continue
                queue.append((now + delay, out, pkt))
        while queue and queue[0][0] <= now:
            _, out, pkt = queue.popleft()
            try:
                os.write(out, pkt)
                stats.forwarded += 1
            except OSError:
                stats.write_errors += 1
    stats.dump(stats_file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ifname", required=True)
    ap.add_argument("--host", action="append", required=True, help="NAMESPACE=IPV4 (repeat per host)")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--stats-file", default=None)
    args = ap.parse_args(argv)
    fds: dict[bytes, int] = {}
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    for spec in args.host:
        ns_name, _, addr = spec.partition("=")
        fds[socket.inet_aton(addr)] = open_tun(ns_name, args.ifname)
    _libc.setns(home, CLONE_NEWNET)  # live in no test namespace: deleting one must not kill us
    os.close(home)
    print("READY", flush=True)
    serve(fds, args.delay_ms / 1000.0, args.loss, random.Random(args.seed), Stats(), args.stats_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
