"""Throughput traces: parsing, folder loading and the deterministic train/test split.

A trace file holds one sample per line, `<time s> <throughput Mbit/s>` separated by whitespace
(Pensieve/Mahimahi "cooked" format). Time must not decrease. Blank lines and lines starting
with `#` are skipped; anything else that does not parse is an error naming file and line, so a
corrupt trace never silently skews an evaluation.

The split is by file, never by time within a file: a file is held out for testing when
`sha256(SPLIT_SEED + ":" + <data set>/<file name>)` taken modulo 100 is below `TEST_PERCENT`.
It depends only on names, so it is the same on every machine and does not move when files are
added to a folder.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from novacron_sdk.errors import InvalidInput

SPLIT_SEED = "pba-split-v1"
TEST_PERCENT = 30
# Files in a trace folder that are documentation, not traces.
_SKIP_SUFFIXES = (".md", ".rst")


@dataclass(frozen=True)
class Trace:
    """One link's samples. `t` is seconds (non-decreasing), `mbps` is Mbit/s (>= 0)."""

    name: str
    t: np.ndarray
    mbps: np.ndarray

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) else 0.0


def parse_trace(text: str, name: str = "<trace>") -> Trace:
    """Parse trace text; raises InvalidInput naming `name:line` on the first bad line."""
    ts: list[float] = []
    vs: list[float] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{name}:{lineno}"
        if len(parts) != 2:
            raise InvalidInput(f"expected '<time s> <throughput Mbit/s>', got {line!r}", field=where)
        try:
            t, v = float(parts[0]), float(parts[1])
        except ValueError:
            raise InvalidInput(f"not a number in {line!r}", field=where) from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise InvalidInput(f"non-finite value in {line!r}", field=where)
        if v < 0:
            raise InvalidInput(f"throughput must be >= 0, got {v}", field=where)
        if ts and t < ts[-1]:
            raise InvalidInput(f"time goes backwards ({t} after {ts[-1]})", field=where)
        ts.append(t)
        vs.append(v)
    if len(ts) < 2:
        raise InvalidInput("a trace needs at least 2 samples", field=name)
    return Trace(name=name, t=np.asarray(ts, dtype=np.float64), mbps=np.asarray(vs, dtype=np.float64))


def load_trace(path: Path, name: str | None = None) -> Trace:
    return parse_trace(path.read_text(encoding="utf-8", errors="strict"), name or path.name)


def trace_files(root: Path) -> Iterator[Path]:
    """Trace files under `root` (recursively, sorted), skipping hidden files and docs."""
    if not root.is_dir():
        raise InvalidInput(f"not a directory: {root}", field="dir")
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if p.name.lower().endswith(_SKIP_SUFFIXES) or p.name.upper().startswith("README"):
            continue
        yield p


def load_dir(root: Path) -> list[Trace]:
    """All traces under `root`, named by their path relative to it."""
    return [load_trace(p, str(p.relative_to(root))) for p in trace_files(root)]


def load_datasets(root: Path) -> dict[str, list[Trace]]:
    """Each sub-folder of `root` is one data set (the layout of the shared trace collection)."""
    out: dict[str, list[Trace]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        traces = [load_trace(p, f"{sub.name}/{p.relative_to(sub)}") for p in trace_files(sub)]
        if traces:
            out[sub.name] = traces
    if not out:
        raise InvalidInput(f"no data-set sub-folders with traces in {root}", field="dir")
    return out


def is_test(name: str) -> bool:
    """True when the file `name` ("<data set>/<file>") belongs to the held-out test part."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT


def split(traces: list[Trace]) -> tuple[list[Trace], list[Trace]]:
    """(train, test) by file name; see the module docstring."""
    train = [t for t in traces if not is_test(t.name)]
    test = [t for t in traces if is_test(t.name)]
    return train, test
