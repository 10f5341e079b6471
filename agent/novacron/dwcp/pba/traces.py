"""Throughput traces: what a well-formed trace is, parsing one from text, and the train/test split.

A trace file holds one sample per line, `<time s> <throughput Mbit/s>` separated by whitespace
(Pensieve/Mahimahi "cooked" format). Time must not decrease (repeats are fine); throughput is
finite and >= 0. Blank lines and lines starting with `#` are skipped; anything else that does not
parse is an error naming file and line, so a corrupt trace never silently skews an evaluation.
Reading files and folders is the caller's (novacron/cli/trace_files.py): this module takes text.

The split is by file, never by time within a file: a file is held out for testing when
`sha256(SPLIT_SEED + ":" + <data set>/<file name>)` taken modulo 100 is below `TEST_PERCENT`.
It depends only on names, so it is the same on every machine and does not move when files are
added to a folder.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from novacron_sdk.errors import InvalidInput

SPLIT_SEED = "pba-split-v1"
TEST_PERCENT = 30
# Bounds that keep the scoring grid finite and its arithmetic exact enough: one 1 s bin per second
# of a trace (1e6 s: 11.6 days), epoch seconds until the year 2286 (a float then still resolves
# 2 microseconds), and rates far above any link (1 Pbit/s), so sums of rate x time never overflow.
MAX_DURATION_S = 1e6
MAX_ABS_TIME_S = 1e10
MAX_MBPS = 1e9


@dataclass(frozen=True)
class Trace:
    """One link's samples. `t` is seconds (non-decreasing), `mbps` is Mbit/s (>= 0); at least two
    samples, within the bounds above. Anything else is refused with InvalidInput naming `name`."""

    name: str
    t: np.ndarray
    mbps: np.ndarray

    def __post_init__(self) -> None:
        for attr in ("t", "mbps"):
            object.__setattr__(self, attr, np.asarray(getattr(self, attr), dtype=np.float64))
        why = _malformed(self.t, self.mbps)
        if why:
            raise InvalidInput(why, field=self.name)

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0])


def _malformed(t: np.ndarray, v: np.ndarray) -> str | None:
    if t.ndim != 1 or v.shape != t.shape:
        return f"times and throughputs must be two equal 1-D arrays, got shapes {t.shape} and {v.shape}"
    if len(t) < 2:
        return f"a trace needs at least 2 samples, got {len(t)}"
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        return "non-finite time or throughput"
    if (np.abs(t) > MAX_ABS_TIME_S).any():
        return f"times must lie within +-{MAX_ABS_TIME_S:g} s"
    if (np.diff(t) < 0).any():
        i = int(np.argmax(np.diff(t) < 0)) + 1
        return f"time goes backwards at sample {i + 1} ({t[i]!r} after {t[i - 1]!r})"
    if (v < 0).any() or (v > MAX_MBPS).any():
        return f"throughput must be within 0..{MAX_MBPS:g} Mbit/s"
    if t[-1] - t[0] > MAX_DURATION_S:
        return f"a trace may span at most {MAX_DURATION_S:g} s, this one spans {t[-1] - t[0]:g} s"
    return None


def parse_trace(text: str, name: str = "<trace>") -> Trace:
    """Parse trace text; raises InvalidInput naming `name:line` on the first bad line, or `name`
    when the trace as a whole is not well-formed (too short, too long)."""
    ts: list[float] = []
    vs: list[float] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{name}:{lineno}"
        if len(parts) != 2:
            raise InvalidInput(f"expected '<time s> <throughput Mbit/s>', got {line[:80]!r}", field=where)
        try:
            t, v = float(parts[0]), float(parts[1])
        except ValueError:
            raise InvalidInput(f"not a number in {line[:80]!r}", field=where) from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise InvalidInput(f"non-finite value in {line[:80]!r}", field=where)
        if v < 0:
            raise InvalidInput(f"throughput must be >= 0, got {v}", field=where)
        if ts and t < ts[-1]:
            raise InvalidInput(f"time goes backwards ({t} after {ts[-1]})", field=where)
        ts.append(t)
        vs.append(v)
    return Trace(name=name, t=np.asarray(ts, dtype=np.float64), mbps=np.asarray(vs, dtype=np.float64))


def is_test(name: str) -> bool:
    """True when the file `name` ("<data set>/<file>") belongs to the held-out test part."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT


def split(traces: list[Trace]) -> tuple[list[Trace], list[Trace]]:
    """(train, test) by file name; see the module docstring."""
    train = [t for t in traces if not is_test(t.name)]
    test = [t for t in traces if is_test(t.name)]
    return train, test
