"""Closes the loop between a running Channel and the sans-I/O StreamController.

Every `interval` it feeds the controller the channel's throughput (bytes handed to the sockets)
and the mean TCP_INFO RTT of its streams, then applies the decided stream count and segment size
through apply_settings (which loses nothing) and hints HDE with the link rate, so adaptive
compression turns itself off on links faster than the encoder.
"""

from __future__ import annotations

import asyncio
import time

from novacron.dwcp.amst import StreamController
from novacron.transport.channel import Channel
from novacron.transport.errors import ChannelError


async def autotune(channel: Channel, controller: StreamController, interval: float) -> None:
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
