"""Errors of the AMST core."""

from __future__ import annotations


class AmstProtocolError(Exception):
    """A peer sent bytes that break the AMST framing or its rules (bad crc, unknown type, duplicate
    sequence, data after FIN...). Final: the receiver that raised it accepts no more input."""
