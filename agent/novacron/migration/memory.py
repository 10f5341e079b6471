"""Giving a finished migration's memory back.

WHY: a migration's relay, channels and pipes reference each other (their callbacks are bound
methods), so once it ends they are cyclic garbage, freed only by a full collection, which CPython
runs rarely in a process with many long-lived objects. With HDE those cycles held the
dictionaries, up to ~1 GiB per end, so each agent grew with every migration and later ones ran
slower (decisions.md: migration-memory-release). The pipes drop their dictionaries themselves
(transport/pipe.py); this covers the AMST channels and anything else a migration leaves in cycles.
"""

from __future__ import annotations

import asyncio
import gc

COLLECT_AFTER_S = 1.0  # off the hand-over's path: the peer's reply and the VM's record go first


def collect_soon(loop: asyncio.AbstractEventLoop, delay: float = COLLECT_AFTER_S) -> None:
    """A full collection in a worker thread, `delay` seconds from now."""
    loop.call_later(delay, lambda: loop.run_in_executor(None, gc.collect))
