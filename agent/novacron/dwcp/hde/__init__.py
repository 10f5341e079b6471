"""HDE, hierarchical delta encoding: zero pages, chunk dedup, XOR delta, then zstd/lz4, sans-I/O.

Wire format in format.py; HdeEncoder/HdeDecoder are the two ends.
"""

from novacron.dwcp.hde.decoder import HdeDecoder
from novacron.dwcp.hde.encoder import HdeEncoder
from novacron.dwcp.hde.errors import HdeProtocolError
from novacron.dwcp.hde.stats import HdeStats

__all__ = ["HdeDecoder", "HdeEncoder", "HdeProtocolError", "HdeStats"]
