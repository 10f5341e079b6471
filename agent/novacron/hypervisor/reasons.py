"""libvirt's (and helper tools') error messages, cut to what an API caller may be shown.

libvirt's XML parser follows its one-line reason with the whole document it failed on, which
carries the VM's paths, labels and metadata, and a tool's stderr can run to pages. A problem
document must say what failed, not echo a definition: so the first line, at most REASON_MAX
characters, with control characters replaced (the store refuses NUL in an event's text).
"""

from __future__ import annotations

import re

import libvirt

REASON_MAX = 300
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def brief(text: str | None, fallback: str = "no reason given") -> str:
    """The first non-empty line of `text`, bounded and printable."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    first = _UNPRINTABLE.sub("?", lines[0]) if lines else fallback
    return first if len(first) <= REASON_MAX else first[: REASON_MAX - 3] + "..."


def libvirt_reason(e: libvirt.libvirtError) -> str:
    """What libvirt said went wrong, without the document it quotes after that."""
    return brief(e.get_error_message(), "libvirt gave no reason")
