"""Capping the send buffer of the process at the other end of a loopback connection (qemu_socket.py),
with a real second process standing in for QEMU."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from novacron.migration import qemu_socket
from novacron.migration.qemu_socket import CapError, cap_peer_buffer, duplicate_fd, socket_inode, socket_owner

_PEER = """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
time.sleep(60)
"""


@pytest.fixture
def peer() -> object:
    srv = socket.create_server(("127.0.0.1", 0))
    proc = subprocess.Popen([sys.executable, "-c", _PEER, str(srv.getsockname()[1])], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"connected"
        ours, _ = srv.accept()
        yield proc, ours
        ours.close()
    finally:
        proc.kill()
        proc.wait()
        srv.close()


def test_finds_the_peer_process_and_caps_its_send_buffer(
    peer: tuple[subprocess.Popen[bytes], socket.socket],
) -> None:
    proc, ours = peer
    inode = socket_inode(ours.getpeername(), ours.getsockname())
    pid, fd = socket_owner(inode)
    assert pid == proc.pid
    try:
        granted = cap_peer_buffer(ours, socket.SO_SNDBUF, 64 << 10)
        granted_rcv = cap_peer_buffer(ours, socket.SO_RCVBUF, 96 << 10)
    except CapError as exc:  # pidfd_getfd needs ptrace rights over the peer
        pytest.skip(f"pidfd_getfd not allowed here: {exc}")
    assert (granted, granted_rcv) == (128 << 10, 192 << 10)  # the kernel doubles what it is given
    check = socket.socket(fileno=duplicate_fd(pid, fd))
    try:
        assert check.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 128 << 10
        assert check.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 192 << 10
    finally:
        check.close()
    # closing our duplicates left the peer's own fd alone: its socket is still there, connected
    assert proc.poll() is None
    assert socket_inode(ours.getpeername(), ours.getsockname()) == inode


def test_an_unknown_connection_is_a_clear_error() -> None:
    with pytest.raises(CapError, match="no socket 127.0.0.1:1 -> 127.0.0.1:2"):
        socket_inode(("127.0.0.1", 1), ("127.0.0.1", 2))


def test_proc_net_tcp_addresses_are_little_endian_hex() -> None:
    assert qemu_socket._hex_addr(("127.0.0.1", 8080)) == "0100007F:1F90"


def test_ipv6_sockets_are_refused() -> None:
    with socket.socket(socket.AF_INET6) as s, pytest.raises(CapError, match="IPv4"):
        cap_peer_buffer(s)
