"""TCP_INFO: the decoder (dwcp/probe) and the syscall (transport/sockopts) against real loopback TCP
connections and the kernel headers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from novacron.dwcp.probe.tcpinfo import _LAYOUT, TCP_ESTABLISHED, TcpInfo, loss_ratio, parse_tcp_info
from novacron.transport.sockopts import tcp_info
from novacron_sdk.errors import InvalidInput

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux-only"
)


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def _info(sock: socket.socket) -> TcpInfo:
    info = tcp_info(sock)
    assert info is not None, "a connected TCP socket on Linux has TCP_INFO"
    return info


def test_tcp_info_on_a_real_connection(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = tcp_pair
    payload = b"x" * (1 << 20)
    before = _info(client)
    client.sendall(payload)
    got = 0
    while got < len(payload):
        got += len(server.recv(1 << 16))
    server.sendall(b"k")  # its ACK covers everything the client sent
    assert client.recv(1) == b"k"

    info = _info(client)
    assert info.state == TCP_ESTABLISHED
    assert info.rtt_us > 0 and info.rtt_ms == info.rtt_us / 1000
    assert info.snd_mss > 0 and info.snd_cwnd > 0
    # bytes_sent counts retransmissions too (loopback does retransmit under CPU pressure).
    assert info.bytes_sent is not None and info.bytes_retrans is not None
    assert info.bytes_sent - info.bytes_retrans == len(payload)
    assert before.bytes_acked is not None and info.bytes_acked == before.bytes_acked + len(payload)
    assert info.segs_out is not None and before.segs_out is not None and info.segs_out > before.segs_out
    ratio = loss_ratio(info, before)
    assert ratio == (info.total_retrans - before.total_retrans) / (info.segs_out - before.segs_out)
    assert ratio is not None and 0.0 <= ratio <= 1.0
    if info.bytes_retrans:
        assert ratio > 0.0  # retransmitted bytes show up as loss
    assert loss_ratio(info, info) is None  # nothing sent in between
    assert _info(server).bytes_received == len(payload)


def test_parse_handles_short_structs_and_rejects_garbage(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    client, _ = tcp_pair
    raw = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    old_kernel = parse_tcp_info(raw[:104])  # what a 2.6-era kernel returned
    assert old_kernel.rtt_us == parse_tcp_info(raw).rtt_us
    assert old_kernel.segs_out is None and old_kernel.delivery_rate is None
    assert loss_ratio(old_kernel) is None and old_kernel.delivery_rate_mbps is None
    with pytest.raises(InvalidInput) as exc:
        parse_tcp_info(raw[:50])
    assert exc.value.field == "tcp_info"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert tcp_info(udp) is None  # no TCP_INFO: the callers carry on without it
    closed = socket.socket()
    closed.close()
    assert tcp_info(closed) is None


@pytest.mark.skipif(
    shutil.which("cc") is None or not Path("/usr/include/linux/tcp.h").exists(),
    reason="needs a C compiler and linux/tcp.h to check offsets",
)
def test_offsets_match_linux_headers(tmp_path: Path) -> None:
    names = [n for n, (_, fmt) in _LAYOUT.items() if fmt != "B"] + ["state", "ca_state", "retransmits"]
    cname = {"rto_us": "rto", "rtt_us": "rtt", "rttvar_us": "rttvar", "min_rtt_us": "min_rtt"}
    lines = "".join(
        f'printf("{n} %zu\\n", offsetof(struct tcp_info, tcpi_{cname.get(n, n)}));' for n in names
    )
    src = tmp_path / "off.c"
    src.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/tcp.h>\n"
        f'int main(void){{{lines} printf("sizeof %zu\\n", sizeof(struct tcp_info)); return 0;}}\n'
    )
    subprocess.run(["cc", str(src), "-o", str(tmp_path / "off")], check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "off")], check=True, capture_output=True, text=True).stdout
    offsets = dict(line.split() for line in out.splitlines())
    for name in names:
        assert int(offsets[name]) == _LAYOUT[name][0], name
    assert int(offsets["sizeof"]) >= 232
