"""The emulated link's packet forwarder: TUN devices in several namespaces, delay and loss between them.

Why a userspace forwarder: this kernel has no netem qdisc, so delay and random loss are added
here. Why a separate process: a test process busy with its own threads (GIL) would add jitter.
It is a hub: each namespace gets one TUN device (IFF_TUN|IFF_NO_PI, so reads/writes are bare IP
packets); a packet read from one device is written to the device whose namespace owns the IPv4
destination, ``--delay-ms`` later, unless dropped with probability ``--loss``. The delay is
constant, so one FIFO queue keeps packets in order.

Run by link_emulator.TunForwarder (as root):
    python tun_forwarder.py --ifname nclink0 --delay-ms 25 --loss 0.001 \
        --host nc-ab12cd-a=10.213.0.1 --host nc-ab12cd-b=10.213.0.2 --stats-file /run/x.json
It prints "READY" once every device exists, writes counters to --stats-file on SIGUSR1 and at
exit, and exits on SIGTERM/SIGINT or when its parent dies.
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
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
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
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
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


def serve(fds: dict[bytes, int], delay: float, loss: float, rng: random.Random, stats: Stats, stats_file: str | None) -> None:
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
    while not stop:
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
                    pkt = os.read(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                if len(pkt) < 20 or pkt[0] >> 4 != 4:
                    stats.unroutable += 1  # IPv6 and junk: the link is IPv4 only
                    continue
                out = fds.get(pkt[16:20])
                if out is None or out == fd:
                    stats.unroutable += 1
                    continue
                if loss and rng.random() < loss:
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
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # never outlive the test that started us
    if os.getppid() == 1:
        return 1
    fds: dict[bytes, int] = {}
    for spec in args.host:
        ns_name, _, addr = spec.partition("=")
        fds[socket.inet_aton(addr)] = open_tun(ns_name, args.ifname)
    print("READY", flush=True)
    serve(fds, args.delay_ms / 1000.0, args.loss, random.Random(args.seed), Stats(), args.stats_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
