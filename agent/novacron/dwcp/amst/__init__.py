"""AMST, adaptive multi-stream transport: one ordered byte channel striped over N TCP streams.

Sans-I/O cores: AmstSender (segmenting, least-loaded scheduling, window), AmstReceiver (reorder,
back-pressure, FIN/ABORT/STREAM_CLOSE) and StreamController (how many streams). Framing in frames.py;
the asyncio adapter is novacron.transport.
"""

from novacron.dwcp.amst.controller import Decision, StreamController
from novacron.dwcp.amst.errors import AmstProtocolError
from novacron.dwcp.amst.events import Aborted, Data, EndOfChannel, Event, StreamClosed
from novacron.dwcp.amst.frames import FLAG_CREDIT, Frame, FrameParser, FrameType, credit, encode_frame, hello
from novacron.dwcp.amst.receiver import AmstReceiver
from novacron.dwcp.amst.sender import AmstSender

__all__ = [
    "Aborted",
    "AmstProtocolError",
    "AmstReceiver",
    "AmstSender",
    "Data",
    "Decision",
    "EndOfChannel",
    "Event",
    "Frame",
    "FrameParser",
    "FLAG_CREDIT",
    "FrameType",
    "credit",
    "StreamClosed",
    "StreamController",
    "encode_frame",
    "hello",
]
