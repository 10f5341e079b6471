"""The splice fast path over real loopback sockets: fake QEMUs on both ends, the source agent's
fastpath_send and the destination agent's FastpathServer in between (header codec: test_fastpath_wire)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from benchmarks.fastpath.fastpath import (
    FastpathAuthorizer,
    FastpathError,
    FastpathHeader,
    FastpathRefused,
    FastpathServer,
    RelayStats,
    fastpath_send,
    new_secret,
)
from benchmarks.fastpath.fastpath_wire import (
    encode_reply,
    header_missing,
    parse_reply,
    reply_missing,
)
from novacron_sdk.errors import InvalidInput
from tests.benchmarks.fastpath_fakes import LOCAL, MIB, QemuDest, QemuSource, accept_qemu, qemu_listener


def run(coro_fn: Callable[[], Awaitable[Any]], limit: float = 120) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await coro_fn()

    return asyncio.run(bounded())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks() -> Any:
    """Every socket, pipe and relay thread a test made is gone when it ends."""
    threads, fds = set(threading.enumerate()), open_fds()
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (set(threading.enumerate()) - threads or open_fds() > fds):
        time.sleep(0.05)
    assert not set(threading.enumerate()) - threads, "threads left running"
    assert open_fds() <= fds, "file descriptors leaked"


async def relay_connections(
    srv: FastpathServer, secret: bytes, sources: list[QemuSource], listener: socket.socket, **kw: Any
) -> list[RelayStats | BaseException]:
    """The source agent: channel i = the i-th QEMU connection, each through its own fastpath_send."""
    tasks = []
    for channel in range(len(sources)):
        qemu = await accept_qemu(listener)
        header = FastpathHeader.signed("mig-1", channel, secret)
        tasks.append(asyncio.create_task(fastpath_send(qemu, (LOCAL, srv.port), header, **kw)))
    return list(await asyncio.gather(*tasks, return_exceptions=True))


# -- end to end --------------------------------------------------------------------------------------
def test_256_mib_relayed_bit_exact(no_leaks: None) -> None:
    secret, auth, dest = new_secret(), FastpathAuthorizer(), QemuDest(1)
    auth.allow("mig-1", secret, dest.addr, channels=1)
    listener = qemu_listener()
    finished: list[RelayStats] = []

    async def main() -> tuple[list[RelayStats | BaseException], QemuSource]:
        async with FastpathServer(authorize=auth, on_finished=finished.append) as srv:
            src = QemuSource(listener.getsockname(), 256 * MIB, seed=7)
            out = await relay_connections(srv, secret, [src], listener)
            await asyncio.to_thread(src.join, 30)
            return out, src

    with listener:
        (stats,), src = run(main)
    dest.stop()
    assert isinstance(stats, RelayStats), stats
    assert src.error is None and dest.errors == []
    assert dest.received == [(256 * MIB, src.digest.hexdigest())]  # bit-exact at the destination QEMU
    assert src.back == b"ACK " + src.digest.hexdigest().encode()  # and the return path, too
    assert stats.error is None and stats.bytes_forward == 256 * MIB
    assert len(finished) == 1 and finished[0].error is None and finished[0].bytes_forward == 256 * MIB
    assert stats.bytes_back == finished[0].bytes_back == len(src.back)


def test_multifd_four_plus_one_connections_each_bit_exact(no_leaks: None) -> None:
    secret, auth = new_secret(), FastpathAuthorizer()
    sizes = [3 * MIB + 17, 24 * MIB, 24 * MIB + 5, 24 * MIB, 23 * MIB]  # main channel + 4 multifd
    dest = QemuDest(len(sizes))
    auth.allow("mig-1", secret, dest.addr, channels=len(sizes))
    listener = qemu_listener()

    async def main() -> tuple[list[RelayStats | BaseException], list[QemuSource], Any]:
        async with FastpathServer(authorize=auth) as srv:
            sources = [QemuSource(listener.getsockname(), n, seed=i) for i, n in enumerate(sizes)]
            out = await relay_connections(srv, secret, sources, listener, congestion="adaptive")
            for s in sources:
                await asyncio.to_thread(s.join, 30)
        return out, sources, srv.stats()  # after close(): relays that had ended count as completed

    with listener:
        results, sources, server_stats = run(main)
    dest.stop()
    assert all(isinstance(r, RelayStats) and r.error is None for r in results), results
    for src in sources:
        assert src.error is None
        assert src.back == b"ACK " + src.digest.hexdigest().encode()  # what arrived == what was sent
    assert sorted(r.bytes_forward for r in results if isinstance(r, RelayStats)) == sorted(sizes)
    assert {r.channel for r in results if isinstance(r, RelayStats)} == set(range(len(sizes)))
    assert server_stats.completed == len(sizes) and server_stats.failed == 0 and server_stats.active == 0
    assert server_stats.bytes_forward == sum(sizes)


def test_bad_token_and_replayed_channel_are_refused(no_leaks: None) -> None:
    secret, auth, dest = new_secret(), FastpathAuthorizer(), QemuDest(1)
    auth.allow("mig-1", secret, dest.addr, channels=2)
    listener = qemu_listener()

    async def main() -> tuple[Any, ...]:
        async with FastpathServer(authorize=auth) as srv:
            peer = (LOCAL, srv.port)
            forged = QemuSource(listener.getsockname(), MIB, seed=1)
            with pytest.raises(FastpathRefused, match="not authorized") as bad:
                await fastpath_send(
                    await accept_qemu(listener), peer, FastpathHeader.signed("mig-1", 0, new_secret())
                )
            good = QemuSource(listener.getsockname(), 2 * MIB, seed=2)
            ok = await fastpath_send(
                await accept_qemu(listener), peer, FastpathHeader.signed("mig-1", 0, secret)
            )
            replay = QemuSource(listener.getsockname(), MIB, seed=3)
            with pytest.raises(FastpathRefused, match="reused channel"):
                await fastpath_send(
                    await accept_qemu(listener), peer, FastpathHeader.signed("mig-1", 0, secret)
                )
            for t in (forged, good, replay):
                await asyncio.to_thread(t.join, 10)
        return bad.value, ok, forged, good, srv.stats()

    with listener:
        bad, ok, forged, good, stats = run(main)
    dest.stop()
    assert "mig-1" in str(bad) and bad.stats is None
    assert forged.error is not None or forged.back == b""  # its QEMU connection was dropped
    assert ok.bytes_forward == 2 * MIB and good.back == b"ACK " + good.digest.hexdigest().encode()
    assert stats.refused == 2 and stats.completed == 1 and len(dest.received) == 1


@pytest.mark.parametrize(
    ("first_bytes", "field"),
    [
        (b"GET / HTTP/1.1\r\nHost: agent\r\n\r\n", "magic"),
        (b"NCFP\x09\x00\x00\x24" + bytes(36), "version"),
        (b"NCFP\x01\x80\x00\x24" + bytes(36), "flags"),
        (b"NCFP\x01\x00\xff\xff", "length"),
    ],
)
def test_malformed_header_is_refused_with_a_clear_error(
    first_bytes: bytes, field: str, no_leaks: None
) -> None:
    async def main() -> tuple[str | None, Any]:
        async with FastpathServer(authorize=lambda h: pytest.fail("must not be asked")) as srv:
            with socket.create_connection((LOCAL, srv.port)) as s:
                s.sendall(first_bytes)
                s.settimeout(10)
                buf = b""
                while n := reply_missing(buf):
                    chunk = await asyncio.to_thread(s.recv, n)
                    assert chunk, "server closed without a reply"
                    buf += chunk
            return parse_reply(buf), srv.stats()

    reason, stats = run(main)
    assert reason is not None and "malformed fast-path header" in reason and f"field {field!r}" in reason
    assert stats.refused == 1 and stats.refusals == [reason]


def test_silent_client_and_unreachable_qemu_are_refused(no_leaks: None) -> None:
    secret = new_secret()
    closed_port = socket.create_server((LOCAL, 0))
    dead_qemu = closed_port.getsockname()
    closed_port.close()
    listener = qemu_listener()

    async def main() -> tuple[Any, ...]:
        async with FastpathServer(
            authorize=lambda h: dead_qemu, header_timeout=0.5, connect_timeout=2
        ) as srv:
            with socket.create_connection((LOCAL, srv.port)) as s:
                s.sendall(b"NCF")  # starts right, then nothing
                s.settimeout(10)
                silent = await asyncio.to_thread(s.recv, 4096)
            src = QemuSource(listener.getsockname(), MIB, seed=1)
            with pytest.raises(FastpathRefused, match="cannot connect to the destination QEMU") as err:
                await fastpath_send(
                    await accept_qemu(listener), (LOCAL, srv.port), FastpathHeader.signed("m", 0, secret)
                )
            await asyncio.to_thread(src.join, 10)
            with pytest.raises(FastpathError, match="cannot connect to the peer agent"):
                await fastpath_send(socket.socket(), dead_qemu, FastpathHeader.signed("m", 0, secret))
            return silent, err.value, srv.stats()

    with listener:
        silent, err, stats = run(main)
    assert "within 0.5 s" in parse_reply(silent)  # type: ignore[operator]
    assert stats.refused == 2 and "m" in str(err)


def test_destination_qemu_reset_ends_both_sides_with_an_error(no_leaks: None) -> None:
    secret, auth, dest = new_secret(), FastpathAuthorizer(), QemuDest(1, reset_after=8 * MIB)
    auth.allow("mig-1", secret, dest.addr)
    listener = qemu_listener()
    finished: list[RelayStats] = []

    async def main() -> tuple[Any, QemuSource]:
        async with FastpathServer(authorize=auth, on_finished=finished.append) as srv:
            src = QemuSource(listener.getsockname(), 512 * MIB, seed=1)
            (out,) = await relay_connections(srv, secret, [src], listener)
            await asyncio.to_thread(src.join, 30)
            return out, src

    with listener:
        out, src = run(main, limit=60)
    dest.stop()
    assert isinstance(out, FastpathError) and out.stats is not None
    assert out.stats.error is not None and out.stats.bytes_forward < 512 * MIB
    assert src.error is not None  # the source QEMU sees its connection break, at once
    assert len(finished) == 1 and finished[0].error is not None


def test_peer_agent_reset_mid_transfer_is_reported(no_leaks: None) -> None:
    """A peer that accepts the header, takes 4 MiB, then resets: the sender fails, its QEMU too."""
    peer = socket.create_server((LOCAL, 0))

    def fake_peer() -> None:
        with peer, peer.accept()[0] as conn:
            buf = b""
            while n := header_missing(buf):
                buf += conn.recv(n)
            conn.sendall(encode_reply(None))
            got = 0
            while got < 4 * MIB:
                got += len(conn.recv(MIB))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    t = threading.Thread(target=fake_peer, daemon=True)
    t.start()
    listener = qemu_listener()

    async def main() -> tuple[FastpathError, QemuSource]:
        src = QemuSource(listener.getsockname(), 256 * MIB, seed=1)
        with pytest.raises(FastpathError, match="failed") as err:
            await fastpath_send(
                await accept_qemu(listener), peer.getsockname(), FastpathHeader.signed("m", 3, new_secret())
            )
        await asyncio.to_thread(src.join, 30)
        return err.value, src

    with listener:
        err, src = run(main, limit=60)
    t.join(10)
    assert err.stats is not None and 4 * MIB <= err.stats.bytes_forward < 256 * MIB
    assert src.error is not None


def test_idle_connection_times_out_and_server_close_aborts_relays(no_leaks: None) -> None:
    secret, auth, dest = new_secret(), FastpathAuthorizer(), QemuDest(2)
    auth.allow("mig-1", secret, dest.addr)
    listener = qemu_listener()

    async def main() -> tuple[Any, ...]:
        async with FastpathServer(authorize=auth, idle_timeout=30) as srv:
            peer = (LOCAL, srv.port)
            stalled = QemuSource(listener.getsockname(), 4 * MIB, seed=1, stall_after=MIB)
            with pytest.raises(FastpathError, match="idle") as idle:
                await fastpath_send(
                    await accept_qemu(listener),
                    peer,
                    FastpathHeader.signed("mig-1", 0, secret),
                    idle_timeout=0.5,
                )
            await asyncio.to_thread(stalled.join, 10)
            while srv.stats().active:  # the destination's relay ends too (the source reset it)
                await asyncio.sleep(0.02)
            assert srv.stats().failed == 1
            held = QemuSource(listener.getsockname(), 4 * MIB, seed=2, stall_after=MIB)
            send = asyncio.create_task(
                fastpath_send(await accept_qemu(listener), peer, FastpathHeader.signed("mig-1", 1, secret))
            )
            while not srv.stats().active:
                await asyncio.sleep(0.02)
            await srv.close()  # the agent shuts down mid-migration
            with pytest.raises(FastpathError):
                await send
            await asyncio.to_thread(held.join, 10)
            return idle.value, stalled, held, srv.stats()

    with listener:
        idle, stalled, held, stats = run(main, limit=60)
    dest.stop()
    assert idle.stats is not None and idle.stats.bytes_forward == MIB
    assert stalled.error is not None and held.error is not None
    assert stats.failed == 2 and stats.active == 0 and stats.completed == 0


def test_fastpath_send_needs_a_plain_socket() -> None:
    with pytest.raises(InvalidInput) as err:
        run(lambda: fastpath_send(object(), (LOCAL, 1), FastpathHeader.signed("m", 0, new_secret())))  # type: ignore[arg-type]
    assert err.value.field == "qemu_reader_sock"
