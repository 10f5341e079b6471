"""The asyncio adapter end to end over real loopback sockets: TLS, HDE, live resizing, relaying."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from novacron.dwcp.amst import StreamController
from novacron.dwcp.congestion import ADAPTIVE_RTT_MS
from novacron.transport import (
    ChannelError,
    ChannelReader,
    ChannelServer,
    make_tls_contexts,
    open_channel,
    proxy_from_channel,
    proxy_into_channel,
    sockopts,
)
from novacron_sdk.errors import InvalidInput
from tests.tooling.wait import until_async, until_steady_async
from tests.unit.dwcp.conftest import Pki

MIB = 1 << 20
AVAILABLE_CC = set(Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split())


def run(coro_fn: Callable[[], Awaitable[Any]], limit: float = 120) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await coro_fn()

    return asyncio.run(bounded())


def realistic(total: int, seed: int = 0) -> list[bytes]:
    """1 MiB pieces of real binaries from /usr/bin, resent as 'iterations' with a few bytes dirtied."""
    pool = bytearray()
    for path in sorted(Path("/usr/bin").iterdir()):
        if path.is_file() and not path.is_symlink() and len(pool) < 16 * MIB:
            pool += path.read_bytes()[: 4 * MIB]
    rnd = random.Random(seed)
    pieces, size = [], 0
    while size < total:
        off = rnd.randrange(0, len(pool) - MIB)
        piece = bytearray(pool[off : off + MIB])
        for _ in range(rnd.randrange(1, 64)):
            piece[rnd.randrange(MIB)] = rnd.randrange(256)
        pieces.append(bytes(piece))
        size += MIB
    return pieces


async def drain(reader: ChannelReader) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    async for data in reader:
        h.update(data)
        n += len(data)
    return n, h.hexdigest()


def digest(pieces: list[bytes]) -> tuple[int, str]:
    h = hashlib.sha256()
    for p in pieces:
        h.update(p)
    return sum(map(len, pieces)), h.hexdigest()


def test_64_mib_of_binaries_over_8_tls_streams_with_hde(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    client_tls = make_tls_contexts(pki.ca, pki.client_cert, pki.client_key).client
    pieces = realistic(64 * MIB)

    async def main() -> tuple[Any, ...]:
        async with ChannelServer(ssl=server_tls) as srv:
            ch = await open_channel(
                "127.0.0.1",
                srv.port,
                streams=8,
                ssl=client_tls,
                server_hostname="localhost",
                hde={"algorithm": "zstd", "level": 1},
                segment_size=128 << 10,
                congestion="adaptive",
            )
            reader = await srv.accept()
            consumer = asyncio.create_task(drain(reader))
            for p in pieces:
                await ch.write(p)
            await ch.close()
            return await consumer, ch.stats(), reader.streams_seen, reader.hde

    received, stats, seen, hde = run(main)
    assert received == digest(pieces)
    assert seen == set(range(8)) and hde
    assert stats["bytes_on_wire"] < stats["bytes_in"]  # HDE made the wire shorter than the stream
    assert stats["hde"].delta_chunks > 0


def test_apply_settings_mid_transfer_loses_nothing() -> None:
    pieces = [random.Random(i).randbytes(MIB // 2) for i in range(48)]
    target_cc = "bbr" if "bbr" in AVAILABLE_CC else "cubic"  # bbr needs the tcp_bbr module

    async def main() -> tuple[Any, ...]:
        async with ChannelServer() as srv:
            ch = await open_channel(
                "127.0.0.1", srv.port, streams=2, congestion="cubic", hde={"algorithm": "lz4", "level": 1}
            )
            reader = await srv.accept()
            consumer = asyncio.create_task(drain(reader))
            applied = []
            for i, p in enumerate(pieces):
                await ch.write(p)
                if i == 10:
                    applied.append(
                        await ch.apply_settings(streams=7, compression_level=9, congestion=target_cc)
                    )
                    in_use = set(ch.congestion_in_use.values())
                elif i == 30:
                    applied.append(
                        await ch.apply_settings(streams=3, compression="zstd", compression_level=2)
                    )
            await ch.close()
            return await consumer, applied, in_use, reader.streams_seen

    received, applied, in_use, seen = run(main)
    assert received == digest(pieces)
    assert [a["streams"] for a in applied] == [7, 3]
    assert applied[0]["compression_level"] == 9 and applied[1]["compression"] == "zstd"
    assert in_use == {target_cc}
    assert seen == set(range(7))  # 2 original + 5 added; retired ones are never reused


def test_autotune_applies_the_controllers_stream_count() -> None:
    pieces = [random.Random(i).randbytes(MIB // 4) for i in range(40)]

    async def main() -> tuple[Any, ...]:
        async with ChannelServer() as srv:
            ch = await open_channel("127.0.0.1", srv.port, streams=1, congestion="adaptive")
            reader = await srv.accept()
            consumer = asyncio.create_task(drain(reader))
            ch.start_autotune(StreamController(min_streams=3, max_streams=3), interval=0.01)
            for p in pieces:
                await ch.write(p)
                await asyncio.sleep(0.005)  # pacing under test: streams are added while data flows
            streams = await until_async("autotune to reach 3 streams", lambda: ch.streams == 3 and ch.streams)
            await ch.close()
            return await consumer, streams

    received, streams = run(main)
    assert received == digest(pieces) and streams == 3


def test_client_without_a_cluster_certificate_is_refused(pki: Pki) -> None:
    server_tls = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key).server
    no_cert = ssl.create_default_context(cafile=str(pki.ca))
    rogue = make_tls_contexts(pki.ca, pki.rogue_cert, pki.rogue_key).client  # trusts us; we do not trust it

    async def main() -> list[BaseException]:
        errors = []
        async with ChannelServer(ssl=server_tls) as srv:
            for ctx in (no_cert, rogue):
                with pytest.raises(ChannelError) as err:
                    await open_channel(
                        "127.0.0.1",
                        srv.port,
                        streams=2,
                        ssl=ctx,
                        server_hostname="localhost",
                        connect_timeout=5,
                        congestion="adaptive",
                    )
                errors.append(err.value)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(srv.accept(), 0.5)  # no channel was ever handed out
        return errors

    no_cert_error, rogue_error = run(main)
    assert "CERTIFICATE" in str(no_cert_error).upper() and "CERTIFICATE" in str(rogue_error).upper()


def test_qemu_style_connection_is_relayed_bit_exact() -> None:
    payload = realistic(8 * MIB, seed=5)

    async def main() -> tuple[int, str]:
        got = hashlib.sha256()
        size = 0
        done = asyncio.Event()

        async def dest_qemu(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal size
            while data := await r.read(MIB):
                got.update(data)
                size += len(data)
            w.close()
            done.set()

        qemu_in = await asyncio.start_server(dest_qemu, "127.0.0.1", 0)
        async with ChannelServer() as srv, qemu_in:

            async def dest_agent() -> None:
                reader = await srv.accept()
                _, w = await asyncio.open_connection("127.0.0.1", qemu_in.sockets[0].getsockname()[1])
                await proxy_from_channel(reader, w)

            async def src_agent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                ch = await open_channel("127.0.0.1", srv.port, streams=4, hde={"level": 1}, congestion="adaptive")
                await proxy_into_channel(r, ch)
                w.close()

            relay = asyncio.create_task(dest_agent())
            src_listen = await asyncio.start_server(src_agent, "127.0.0.1", 0)
            async with src_listen:
                _, qemu_out = await asyncio.open_connection(
                    "127.0.0.1", src_listen.sockets[0].getsockname()[1]
                )
                for p in payload:
                    qemu_out.write(p)
                    await qemu_out.drain()
                    await asyncio.sleep(0.01)  # pauses exercise the idle flush
                qemu_out.write_eof()
                await done.wait()
                await relay
                qemu_out.close()
        return size, got.hexdigest()

    assert run(main) == digest(payload)


def test_a_stream_dying_mid_channel_fails_the_reader() -> None:
    async def main() -> None:
        async with ChannelServer() as srv:
            ch = await open_channel("127.0.0.1", srv.port, streams=3, congestion="adaptive")
            reader = await srv.accept()
            await ch.write(bytes(4 * MIB))
            ch._streams[1].writer.transport.abort()  # as if the path of stream 1 broke
            with pytest.raises(ChannelError, match="stream 1"):
                while await reader.read():
                    pass
            await ch.abort("test over")

    run(main)


def test_abort_reaches_the_reader_with_its_reason() -> None:
    async def main() -> None:
        async with ChannelServer() as srv:
            ch = await open_channel("127.0.0.1", srv.port, streams=2, congestion="adaptive")
            reader = await srv.accept()
            await ch.write(b"partial")
            await ch.abort("source VM crashed")
            with pytest.raises(ChannelError, match="source VM crashed"):
                while await reader.read():
                    pass
            with pytest.raises(ChannelError, match="closed"):
                await ch.write(b"more")

    run(main)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_reader_that_stops_consuming_stalls_the_writer(pki: Pki, tls: bool) -> None:
    pieces = [random.Random(i).randbytes(MIB) for i in range(256)]
    ctx = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key) if tls else None

    async def main() -> tuple[int, Any]:
        small = {"sndbuf": 256 << 10, "rcvbuf": 256 << 10}
        srv_tls = {"ssl": ctx.server} if ctx else {}
        cli_tls = {"ssl": ctx.client, "server_hostname": "localhost"} if ctx else {}
        async with ChannelServer(reorder_limit=4 * MIB, output_limit=4 * MIB, **small, **srv_tls) as srv:
            ch = await open_channel(
                "127.0.0.1", srv.port, streams=4, window_bytes=4 * MIB, congestion="adaptive", **small, **cli_tls
            )
            reader = await srv.accept()

            async def produce() -> None:
                for p in pieces:
                    await ch.write(p)
                await ch.close()

            producer = asyncio.create_task(produce())
            stalled_at = await until_steady_async("the producer to stall", lambda: ch.bytes_in)
            consumed = asyncio.create_task(drain(reader))
            await producer
            return stalled_at, await consumed

    stalled_at, received = run(main)
    assert stalled_at < 64 * MIB  # windows + buffers, far below the 256 MiB offered
    assert received == digest(pieces)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_credit_bounds_the_decoded_bytes_between_writer_and_consumer(pki: Pki, tls: bool) -> None:
    """HDE shrinks zero-heavy data ~1000x, so the transport's byte limits (compressed) would let
    hundreds of MiB pile up at the receiver; the raw window (CREDIT frames) must not."""
    pieces = [bytes(MIB - 64) + random.Random(i).randbytes(64) for i in range(192)]
    ctx = make_tls_contexts(pki.ca, pki.server_cert, pki.server_key) if tls else None
    raw_window = 4 * MIB

    async def main() -> tuple[int, int, Any]:
        srv_tls = {"ssl": ctx.server} if ctx else {}
        cli_tls = {"ssl": ctx.client, "server_hostname": "localhost"} if ctx else {}
        async with ChannelServer(**srv_tls) as srv:
            ch = await open_channel(
                "127.0.0.1", srv.port, streams=3, raw_window=raw_window,
                hde={"level": 1, "mode": "always", "frame_bytes": 256 << 10}, **cli_tls,
                congestion="adaptive",
            )  # fmt: skip
            reader = await srv.accept()
            worst = 0

            async def produce() -> None:
                nonlocal worst
                for p in pieces:
                    await ch.write(p)
                    worst = max(worst, ch.bytes_in - reader.bytes_out)
                await ch.close()

            producer = asyncio.create_task(produce())
            # nobody consumes yet: the writer must stall at the raw window
            stalled_at = await until_steady_async("the writer to stall", lambda: ch.bytes_in)
            h, n = hashlib.sha256(), 0
            while data := await reader.read(256 << 10):
                h.update(data)
                n += len(data)
                await asyncio.sleep(0.001)  # pacing under test: a slow consumer
            await producer
            return stalled_at, worst, (n, h.hexdigest())

    stalled_at, worst, received = run(main)
    assert received == digest(pieces)
    assert stalled_at <= raw_window + MIB  # one write may be admitted just under the window
    assert worst <= raw_window + 2 * MIB  # plus what is decoded but not yet counted by the consumer


def test_without_a_raw_window_the_receiver_still_reports_what_it_delivered() -> None:
    """No window (write never waits on CREDIT), but `undelivered` follows the consumer: the
    source's switchover gate reads it."""

    async def main() -> tuple[int | None, int | None, int | None]:
        async with ChannelServer() as srv:
            ch = await open_channel("127.0.0.1", srv.port, streams=2, congestion="adaptive")
            reader = await srv.accept()
            for _ in range(4):
                await ch.write(bytes(MIB))
            before = ch.undelivered
            taken = 0
            while taken < 2 * MIB:
                taken += len(await reader.read(2 * MIB - taken))
            await until_async("credit for half", lambda: ch.undelivered == 2 * MIB, timeout=5)
            half = ch.undelivered
            while taken < 4 * MIB:
                taken += len(await reader.read())
            await until_async("credit for all", lambda: ch.undelivered == 0, timeout=5)
            after = ch.undelivered
            await ch.close()
            return before, half, after

    before, half, after = run(main)
    assert (before, half, after) == (4 * MIB, 2 * MIB, 0)


def test_socket_tuning_on_a_real_connection() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    cli = socket.socket()
    sockopts.tune_socket(cli, sndbuf=2 * MIB, rcvbuf=2 * MIB)
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    try:
        assert cli.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 2 * MIB
        assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        info = sockopts.tcp_info(cli)
        assert info is not None and 0 <= info.rtt_ms < ADAPTIVE_RTT_MS and info.total_retrans == 0
        assert sockopts.choose("adaptive", cli) == "cubic"  # loopback: short RTT, no loss
        for algo in AVAILABLE_CC & {"bbr", "cubic"}:
            assert sockopts.set_congestion(cli, algo) == algo
        assert sockopts.set_congestion(cli, "no-such-algorithm") is None
    finally:
        for s in (cli, conn, srv):
            s.close()


def test_bad_arguments_name_the_field(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        make_tls_contexts(tmp_path / "missing.pem", pki.client_cert, pki.client_key)
    assert err.value.field == "ca_cert"
    with pytest.raises(InvalidInput, match="congestion"):
        run(lambda: open_channel("127.0.0.1", 1, congestion="reno"))
    with pytest.raises(InvalidInput, match="streams"):
        run(lambda: open_channel("127.0.0.1", 1, streams=0, congestion="adaptive"))
    with pytest.raises(ChannelError, match="cannot open channel"):
        run(lambda: open_channel("127.0.0.1", _closed_port(), streams=2, connect_timeout=2, congestion="adaptive"))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
