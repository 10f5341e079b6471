"""Closes the loop between a running Channel and the sans-I/O StreamController.

Every `interval` it feeds the controller the channel's throughput (bytes handed to the sockets)
and the mean TCP_INFO RTT of its streams, then applies the decided stream count and segment size
through apply_settings (which loses nothing) and hints HDE with the link rate, so adaptive
compression turns itself off on links faster than the encoder.

It sees the channel through `Tunable`, what it reads and changes, so channel.py (which starts it)
is the only one of the two that imports the other.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from novacron.dwcp.amst import AmstSender, StreamController
from novacron.transport.errors import ChannelError


class Tunable(Protocol):
    sender: AmstSender
    hde: Any  # HdeEncoder | None

    @property
    def running(self) -> bool: ...

    @property
    def streams(self) -> int: ...

    def rtt_samples(self) -> list[float]: ...

    async def apply_settings(self, *, streams: int | None = None, segment_size: int | None = None) -> Any: ...


async def autotune(channel: Tunable, controller: StreamController, interval: float) -> None:
    last, t_last = channel.sender.bytes_sent, time.perf_counter()
    while channel.running:
        await asyncio.sleep(interval)
        now, sent = time.perf_counter(), channel.sender.bytes_sent
        bps = (sent - last) * 8 / max(now - t_last, 1e-6)
        last, t_last = sent, now
        rtts = channel.rtt_samples()
        if not rtts or not channel.running:
            continue
        decision = controller.on_sample(bps, sum(rtts) / len(rtts))
        if channel.hde is not None and bps > 0:
            channel.hde.set_link_rate(max(bps, controller.predicted_bps or 0) / 8)
        if decision.target_streams != channel.streams or decision.segment_size != channel.sender.segment_size:
            try:
                await channel.apply_settings(
                    streams=decision.target_streams, segment_size=decision.segment_size
                )
            except ChannelError:
                return
