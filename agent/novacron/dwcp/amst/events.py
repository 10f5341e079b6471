"""What AmstReceiver.feed reports to its adapter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Data:
    """The next bytes of the channel, in order."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfChannel:
    """FIN seen and every segment before it delivered: the channel is complete."""

    total_bytes: int
    fin_stream: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The sender retired this stream; nothing more will come on it, the adapter may close it."""

    stream: int


@dataclass(frozen=True, slots=True)
class Aborted:
    """The sender gave up; `reason` is its message."""

    reason: str


Event = Data | EndOfChannel | StreamClosed | Aborted
