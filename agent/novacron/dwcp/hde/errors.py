"""The one error a DWCP HDE decoder raises, so callers need a single except clause."""

from __future__ import annotations


class HdeProtocolError(Exception):
    """The encoded stream is corrupt, truncated, hostile or from an incompatible encoder.

    Like h11's RemoteProtocolError it is final: a decoder that raised it refuses all further input,
    because its dictionary may no longer mirror the encoder's.
    """
