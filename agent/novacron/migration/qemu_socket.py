"""Capping the kernel buffers of QEMU's end of a migration connection, from the agent's end.

Why: QEMU counts a byte as sent once its socket has taken it, and Linux grows a TCP socket's send
buffer by itself up to net.ipv4.tcp_wmem[2] (4 MiB by default), per connection. What waits there
when QEMU stops the guest is downtime that neither QEMU nor the switchover gate can see
(decisions.md: qemu-socket-caps).

The agent owns the other end of the connection (QEMU connects to the tunnel's local port), so it
finds QEMU's socket by the connection's addresses (/proc/net/tcp), takes a duplicate of it with
pidfd_getfd(2) (needs the rights to ptrace QEMU: the agent runs as root) and sets SO_SNDBUF (the
source QEMU) or SO_RCVBUF (the destination QEMU, where bytes the agent handed over wait to be
loaded), which also stops the kernel's autotuning. Best effort: where any step is not allowed,
QEMU keeps its buffer and the migration goes on.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from pathlib import Path

# the kernel doubles it: 1 MiB. Smaller starves a loopback connection on a busy host: the socket
# drains once per scheduler round, not once per packet (decisions.md: qemu-socket-buffer-size).
QEMU_BUFFER = 512 << 10
ACCEPT_WAIT_S = 2.0
_SYS_PIDFD_GETFD = 438  # x86_64, arm64 and the other asm-generic tables alike
_libc = ctypes.CDLL(None, use_errno=True)


class CapError(OSError):
    """The peer's socket could not be found or changed."""


def _hex_addr(addr: tuple[str, int]) -> str:
    """An (IPv4 address, port) pair as /proc/net/tcp writes it."""
    ip = struct.unpack("<I", socket.inet_aton(addr[0]))[0]
    return f"{ip:08X}:{addr[1]:04X}"


def socket_inode(
    local: tuple[str, int], remote: tuple[str, int], proc: Path = Path("/proc"), *, wait_s: float = 0.0
) -> int:
    """The inode of the IPv4 TCP socket bound to `local` and connected to `remote`. A connection
    still in the listener's accept queue has no inode yet: up to `wait_s` for its owner to accept."""
    want = (_hex_addr(local), _hex_addr(remote))
    deadline = time.monotonic() + wait_s
    while True:
        for line in (proc / "net" / "tcp").read_text().splitlines()[1:]:
            f = line.split()
            if (f[1], f[2]) == want and int(f[9]):
                return int(f[9])
        if time.monotonic() >= deadline:
            raise CapError(f"no socket {local[0]}:{local[1]} -> {remote[0]}:{remote[1]} in {proc}/net/tcp")
        time.sleep(0.01)


def socket_owner(inode: int, proc: Path = Path("/proc")) -> tuple[int, int]:
    """(pid, fd) of a process holding socket `inode`; QEMU processes are looked at first."""
    target = f"socket:[{inode}]"
    pids = [p for p in proc.iterdir() if p.name.isdigit()]
    pids.sort(key=lambda p: not _comm(p).startswith("qemu"))
    for p in pids:
        try:
            for fd in (p / "fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return int(p.name), int(fd.name)
                except OSError:
                    continue
        except OSError:
            continue
    raise CapError(f"no process holds socket inode {inode}")


def _comm(p: Path) -> str:
    try:
        return (p / "comm").read_text().strip()
    except OSError:
        return ""


def duplicate_fd(pid: int, fd: int) -> int:
    """A new fd of ours for process `pid`'s `fd` (pidfd_getfd(2))."""
    pidfd = os.pidfd_open(pid)
    try:
        dup = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if dup < 0:
            err = ctypes.get_errno()
            raise CapError(err, f"pidfd_getfd({pid}, {fd}): {os.strerror(err)}")
        return int(dup)
    finally:
        os.close(pidfd)


def cap_peer_buffer(ours: socket.socket, option: int = socket.SO_SNDBUF, size: int = QEMU_BUFFER) -> int:
    """Sets `option` (SO_SNDBUF or SO_RCVBUF) on the socket at the other end of our connected
    socket `ours` (same host and network namespace); returns what the kernel granted it (twice
    `size`). Raises CapError/OSError."""
    if ours.family != socket.AF_INET:
        raise CapError("only IPv4 loopback connections are supported")
    peer_local, our_local = ours.getpeername(), ours.getsockname()
    pid, fd = socket_owner(socket_inode(peer_local, our_local, wait_s=ACCEPT_WAIT_S))
    dup = socket.socket(fileno=duplicate_fd(pid, fd))
    try:
        dup.setsockopt(socket.SOL_SOCKET, option, size)
        return dup.getsockopt(socket.SOL_SOCKET, option)
    finally:
        dup.close()  # our duplicate only: QEMU's own fd stays open
