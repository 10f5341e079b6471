"""Keep a running DWCP Channel on the settings of the current mode (LiveSettings -> apply_settings).

LiveSettings calls subscribers synchronously and from whichever thread decided the switch;
Channel.apply_settings is a coroutine of the channel's event loop that may open or retire
streams. The binding bridges the two: the subscriber only records the newest profile and wakes
one applier task on the channel's loop (thread-safe), which applies profiles one at a time and
always the latest -- two quick switches never resize concurrently, and a burst of switches
costs one apply. Stream count: the channel keeps its count when it lies inside the new
profile's range (an autotuner may have chosen it), else moves to the nearest bound.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from novacron.dwcp.mode.profiles import ModeProfile
from novacron.transport.mode.live_settings import LiveSettings, Subscription

log = logging.getLogger(__name__)


def settings_for(profile: ModeProfile, channel: Any) -> dict[str, Any]:
    """The apply_settings arguments that put `channel` on `profile`."""
    top = min(profile.streams_max, channel.sender.max_streams)
    streams = max(min(channel.streams, top), min(profile.streams_min, top))
    args: dict[str, Any] = {
        "streams": streams,
        "congestion": profile.congestion,
        "segment_size": profile.segment_bytes,
    }
    if channel.hde is not None:
        args["compression"] = profile.compression_algorithm
        args["compression_level"] = profile.compression_level
    return args


class ChannelBinding:
    """Created by `bind_channel`; `close()` stops following the mode. `applied` counts applies."""

    def __init__(
        self, live: LiveSettings, channel: Any, loop: asyncio.AbstractEventLoop, *, apply_now: bool = True
    ) -> None:
        self.channel = channel
        self.applied = 0
        self.last_settings: dict[str, Any] | None = None
        self.errors: list[str] = []
        self._loop = loop
        self._thread = threading.get_ident()
        self._pending: ModeProfile | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sub: Subscription = live.subscribe(self._on_profile, replay=apply_now)

    def close(self) -> None:
        self._closed = True
        self._sub.close()

    async def settled(self) -> None:
        """Wait until every switch seen so far is applied (for callers and tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _on_profile(self, profile: ModeProfile) -> None:
        # Any thread; must not block: remember the profile, wake the applier on the channel's loop.
        self._pending = profile
        if threading.get_ident() == self._thread:
            self._wake()
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = self._loop.create_task(self._apply_latest(), name="dwcp-mode-apply")

    async def _apply_latest(self) -> None:
        while (profile := self._pending) is not None and not self._closed:
            self._pending = None
            if not self.channel.running:
                self.close()
                return
            args = settings_for(profile, self.channel)
            try:
                self.last_settings = await self.channel.apply_settings(**args)
                self.applied += 1
            except Exception as exc:  # the channel failed or closed meanwhile: its owner sees that
                self.errors.append(f"{type(exc).__name__}: {exc}")
                log.warning("applying %s settings to a channel failed: %s", profile.mode, exc)


def bind_channel(
    live: LiveSettings, channel: Any, *, loop: asyncio.AbstractEventLoop | None = None, apply_now: bool = True
) -> ChannelBinding:
    """Make `channel` (a tunnel Channel) follow mode switches; `apply_now` also puts it on the
    current profile at once. Call on the channel's loop, or pass that loop."""
    return ChannelBinding(live, channel, loop or asyncio.get_running_loop(), apply_now=apply_now)
