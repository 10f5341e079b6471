"""A migration's TLS pipes end to end (migration/pipe_relay.py): both agents' halves on loopback
behind a real DWCP listener, real sockets standing in for the two QEMUs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl

import pytest

from novacron.config.model import DwcpConfig
from novacron.dwcp.mode.profiles import profile_for
from novacron.dwcp.mode.rollout import Flags
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.listener import MigrationListener
from novacron.migration.pipe_carrier import PipeCarrier
from novacron.migration.pipe_relay import IncomingPipes, OutgoingPipes
from novacron.migration.plan import channel_plan
from novacron.migration.wire import ChannelHeader
from novacron.transport import make_tls_contexts
from novacron_sdk.models.migration import MigrationOptions
from tests.tooling.wait import until_async, until_steady_async
from tests.unit.dwcp.conftest import Pki

MIB = 1 << 20
ON = Flags(transport=True, compression=True, prediction=True)


class Rig:
    """One listener serving both agents (forward pipes to the destination half, return pipes to
    the source half), the source QEMU's port and the destination QEMU's listener."""

    def __init__(self, pki: Pki) -> None:
        self.server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
        client_tls = make_tls_contexts(pki.ca, pki.client_cert, pki.client_key).client
        self.arrived: list[int] = []  # forward pipes, by QEMU connection index
        self.qemu_dst = socket.create_server(("127.0.0.1", 0))
        self.qemu_connects = 0
        self.listener = MigrationListener("127.0.0.1", 0, self.server_tls, self._no_amst, self._pipe)
        self.src_port = socket.create_server(("127.0.0.1", 0))
        self.src_port.setblocking(False)
        self.errors: list[str] = []
        self._client_tls = client_tls
        self.outgoing: OutgoingPipes | None = None
        self.incoming: IncomingPipes | None = None
        self.relay: PipeCarrier | None = None

    async def start(self, relay: bool = False) -> None:
        """relay: the source half is a whole PipeCarrier (the datacenter's raw pipe plan)."""
        await self.listener.start()
        peer = PeerEndpoint("127.0.0.1", self.listener.port, "localhost", self._client_tls)
        self.incoming = IncomingPipes("m1", peer, self._connect_qemu)
        if relay:
            dc = profile_for("datacenter", DwcpConfig())
            self.relay = PipeCarrier("m1", peer, channel_plan(MigrationOptions(), dc, ON), on_error=self.errors.append)
            self.qemu_port = await self.relay.start()
            self.outgoing = self.relay.pipes
            return
        self.outgoing = OutgoingPipes("m1", peer, "cubic", self.errors.append)
        self.serving = asyncio.create_task(self.outgoing.serve(self.src_port))
        self.qemu_port = self.src_port.getsockname()[1]

    async def _connect_qemu(self) -> socket.socket:
        self.qemu_connects += 1
        return await asyncio.to_thread(socket.create_connection, self.qemu_dst.getsockname())

    def _no_amst(self, *_: object) -> str:
        return "this rig carries pipes only"

    def _pipe(self, header: ChannelHeader, tls: ssl.SSLSocket, peer: str | None) -> str | None:
        assert self.outgoing is not None and self.incoming is not None
        assert peer is not None  # the listener names the certificate's node
        if header.direction == "pipe-back":
            return self.outgoing.attach_back(header.conn, tls)
        self.arrived.append(header.conn)
        self.incoming.accept(header, tls)
        return None

    async def close(self) -> None:
        assert self.outgoing is not None and self.incoming is not None
        if self.relay is not None:
            await self.relay.close()
        else:
            self.serving.cancel()
            self.outgoing.abort()
        self.incoming.abort()
        await self.listener.close()


async def _until(cond: object, timeout: float = 10.0) -> None:
    await until_async("the condition", cond, timeout=timeout)  # type: ignore[arg-type]


def _recv_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(MIB):
        out += chunk
    return out


def test_prewarmed_pipes_carry_qemus_connections_and_an_unused_one_ends_quietly(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """Pipes dialed before QEMU connects: QEMU's connections take them (no new dial), the
    destination QEMU is connected only once a pipe's first bytes arrive, and a pipe nobody took
    ends at the abort without touching the destination QEMU or reporting an error."""
    payloads = [b"main channel" + os.urandom(MIB), b"multifd channel" + os.urandom(3 * MIB)]

    async def main() -> tuple[list[bytes], int, list[int]]:
        rig = Rig(pki)
        await rig.start()
        assert rig.outgoing is not None
        rig.outgoing.prewarm(3)
        await _until(lambda: len(rig.arrived) == 3)
        # nothing to deliver yet: the destination QEMU is left alone (no connection while they wait)
        connects_before = await until_steady_async("connections to the destination QEMU", lambda: rig.qemu_connects)
        port = rig.qemu_port
        received: list[bytes] = []
        for data in payloads:  # QEMU's connections, one after the other as QEMU makes them
            qemu = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port))
            await asyncio.to_thread(qemu.sendall, data)
            qemu.shutdown(socket.SHUT_WR)
            dst, _ = await asyncio.to_thread(rig.qemu_dst.accept)
            received.append(await asyncio.to_thread(_recv_all, dst))
            dst.close()
            qemu.settimeout(10)
            assert await asyncio.to_thread(qemu.recv, 10) == b""  # the return path ended cleanly
            qemu.close()
        await rig.close()
        await _until(lambda: not rig.incoming._tasks)  # type: ignore[union-attr]  # the unused pipe's destination half ended
        return received, connects_before, sorted(rig.arrived) + [rig.qemu_connects]

    with caplog.at_level(logging.INFO):
        received, connects_before, seen = asyncio.run(main())
    assert received == payloads
    assert connects_before == 0
    assert seen == [0, 1, 2, 2]  # three pipes dialed, none more; QEMU connected twice
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failed_prewarm_is_dialed_again_when_qemu_connects(pki: Pki) -> None:
    """A prewarm whose dial fails (here: nothing listened yet) never fails the migration by
    itself: QEMU's connection dials its own pipe."""

    async def main() -> tuple[bytes, list[int]]:
        rig = Rig(pki)
        await rig.start()
        assert rig.outgoing is not None
        good = rig.outgoing.dest
        closed = socket.create_server(("127.0.0.1", 0))
        rig.outgoing.dest = PeerEndpoint("127.0.0.1", closed.getsockname()[1], "localhost", good.tls)
        closed.close()  # connections to it are refused
        rig.outgoing.prewarm(1)
        dial = rig.outgoing._dialed[0]
        await asyncio.wait([dial], timeout=10)
        assert isinstance(dial.exception(), OSError)
        rig.outgoing.dest = good
        qemu = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", rig.qemu_port))
        await asyncio.to_thread(qemu.sendall, b"stream")
        qemu.shutdown(socket.SHUT_WR)
        dst, _ = await asyncio.to_thread(rig.qemu_dst.accept)
        got = await asyncio.to_thread(_recv_all, dst)
        dst.close()
        qemu.close()
        await rig.close()
        return got, rig.arrived

    got, arrived = asyncio.run(main())
    assert got == b"stream"
    assert arrived == [0]  # QEMU's own dial for connection 0


@pytest.mark.parametrize("handed_over", [False, True], ids=["mid-migration", "after-hand-over"])
def test_a_break_after_the_hand_over_is_teardown_not_failure(
    pki: Pki, handed_over: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The destination closes its relay when it adopts the VM, possibly while its QEMU still holds
    a channel open: the source's pipe then breaks. Mid-migration that fails the migration; once
    libvirt has reported the destination running it is teardown, logged, not reported."""

    async def main() -> tuple[list[str], str | None]:
        rig = Rig(pki)
        await rig.start(relay=True)
        assert rig.relay is not None and rig.incoming is not None
        qemu = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", rig.qemu_port))
        await asyncio.to_thread(qemu.sendall, b"stream")
        dst, _ = await asyncio.to_thread(rig.qemu_dst.accept)
        assert await asyncio.to_thread(dst.recv, 100) == b"stream"
        await _until(lambda: all(p.back is not None for p in rig.relay.pipes.pipes.values()))  # type: ignore[union-attr]
        if handed_over:
            rig.relay.hand_over()
        rig.incoming.abort()  # the destination tears its end down; its QEMU never closed the channel
        if handed_over:
            await _until(lambda: any("after the hand-over" in r.getMessage() for r in caplog.records))
        else:
            await _until(lambda: rig.errors)
        error = rig.relay.error
        await rig.close()
        dst.close()
        qemu.close()
        return list(rig.errors), error

    with caplog.at_level(logging.INFO):
        errors, error = asyncio.run(main())
    if handed_over:
        assert errors == [] and error is None
        assert any("after the hand-over" in r.getMessage() for r in caplog.records)
    else:
        assert errors and error == errors[0]  # reported once: the migration fails
