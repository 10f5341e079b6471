"""A mode switch reaches a running DWCP channel mid-transfer and loses nothing.

Real loopback Channel/ChannelServer; the channel follows ModeService.live through bind_channel.
The first switch is decided by detection on another thread (as samples may arrive there), the
second is an operator's forced mode on the loop thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from typing import Any

from novacron.config.model import AgentConfig
from novacron.dwcp.mode import LinkSample, profile_for
from novacron.transport import ChannelReader, ChannelServer, open_channel
from novacron.transport.mode import ModeService, bind_channel
from tests.tooling.wait import until_async

MIB = 1 << 20


async def drain(reader: ChannelReader) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    async for data in reader:
        h.update(data)
        n += len(data)
    return n, h.hexdigest()


def test_switches_change_streams_compression_and_congestion_of_a_live_channel() -> None:
    cfg = AgentConfig.model_validate({"system": {"node_id": "switch-test"}})
    mode = ModeService(cfg)
    dc, inet = profile_for("datacenter", cfg.dwcp), profile_for("internet", cfg.dwcp)
    pieces = [random.Random(i).randbytes(MIB // 2) for i in range(48)]
    expected = (sum(map(len, pieces)), hashlib.sha256(b"".join(pieces)).hexdigest())

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with ChannelServer() as srv:
            ch = await open_channel("127.0.0.1", srv.port, streams=2, congestion="cubic",
                                    hde={"algorithm": "zstd", "level": 1})
            reader = await srv.accept()
            consumer = asyncio.create_task(drain(reader))
            binding = bind_channel(mode.live, ch)  # puts the channel on the current (datacenter) profile
            for i, piece in enumerate(pieces):
                await ch.write(piece)
                if i == 4:
                    await binding.settled()
                    seen["initial"] = (ch.streams, ch.hde.algorithm, ch.hde.level, ch.congestion)
                elif i == 12:  # detection on another thread: a 80 ms / 50 Mbit/s peer -> internet
                    applied = binding.applied
                    t = threading.Thread(target=mode.on_link_sample, args=("wan", LinkSample(80.0, 50.0)))
                    t.start()
                    t.join()
                    # the binding hops onto this loop, then applies
                    await until_async("the switch applied to the channel", lambda n=applied: binding.applied > n)
                    seen["internet"] = (ch.streams, ch.hde.algorithm, ch.hde.level, ch.congestion,
                                        ch.sender.segment_size, mode.mode)
                elif i == 30:  # operator pins datacenter (PUT /api/v1/mode), on the loop thread
                    mode.update({"mode": "datacenter"})
                    await binding.settled()
                    seen["forced"] = (ch.streams, ch.hde.algorithm, ch.hde.level, ch.congestion, mode.mode)
            await ch.close()
            binding.close()
            seen["received"] = await consumer
            seen["streams_seen"] = reader.streams_seen
            seen["errors"] = binding.errors
            seen["applied"] = binding.applied
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 120))
    assert seen["received"] == expected  # every byte, in order, across both switches
    assert seen["errors"] == [] and seen["applied"] == 3
    assert seen["initial"] == (dc.streams_min, "lz4", 0, dc.congestion)
    assert seen["internet"] == (inet.streams_min, inet.compression_algorithm, inet.compression_level,
                                inet.congestion, inet.segment_bytes, "internet")
    # back in datacenter the count is clamped into its range, compression off again
    assert seen["forced"] == (dc.streams_max, "lz4", 0, dc.congestion, "datacenter")
    assert len(seen["streams_seen"]) >= inet.streams_min  # the added streams really carried data
    assert mode.status().last_switch_ms is not None


def test_a_burst_of_switches_is_coalesced_and_ends_on_the_latest() -> None:
    cfg = AgentConfig()
    mode = ModeService(cfg)

    async def main() -> tuple[int, str, int, int]:
        async with ChannelServer() as srv:
            ch = await open_channel(
                "127.0.0.1", srv.port, streams=4, hde={"algorithm": "zstd", "level": 3}, congestion="adaptive"
            )
            reader = await srv.accept()
            consumer = asyncio.create_task(drain(reader))
            binding = bind_channel(mode.live, ch, apply_now=False)
            for m in ("internet", "hybrid", "internet", "datacenter", "hybrid"):
                mode.update({"mode": m})  # five switches before the applier gets to run
            await binding.settled()
            await ch.write(b"x" * MIB)
            await ch.close()
            binding.close()
            await consumer
            return binding.applied, ch.hde.algorithm, ch.hde.level, ch.streams

    applied, algo, level, streams = asyncio.run(asyncio.wait_for(main(), 60))
    hybrid = profile_for("hybrid", cfg.dwcp)
    assert applied < 5  # coalesced: never one resize per intermediate profile
    assert (algo, level) == (hybrid.compression_algorithm, hybrid.compression_level)
    assert hybrid.streams_min <= streams <= hybrid.streams_max
