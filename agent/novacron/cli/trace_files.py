"""Reading folders of throughput traces (the file side of dwcp/pba/traces.py, which takes text).

Every file under a folder is one trace, recursively and in name order, except hidden files and
documentation (README*, *.md, *.rst). `read_dir` reads each file on its own and sets aside the
ones it cannot use, each with its reason, so one corrupt file never stops an evaluation of the
others; `load_datasets`, for training and benchmarks, refuses the first such file instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from novacron.dwcp.pba.traces import Trace, parse_trace
from novacron_sdk.errors import InvalidInput

_SKIP_SUFFIXES = (".md", ".rst")
# A trace file is text of a few MB at most; a bigger file is not one (and is not read whole).
MAX_FILE_BYTES = 256 << 20


def trace_files(root: Path) -> Iterator[Path]:
    """Trace files under `root` (recursively, sorted), skipping hidden files and docs."""
    if not root.is_dir():
        raise InvalidInput(f"not a directory: {root}", field="dir")
    for p in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.name.lower().endswith(_SKIP_SUFFIXES) or p.name.upper().startswith("README"):
            continue
        try:
            regular = p.is_file()  # not a directory, FIFO or device (reading those could block)
        except OSError:
            regular = True  # read_trace says why it cannot be read
        if regular:
            yield p


def read_trace(path: Path, name: str | None = None) -> Trace:
    """One trace file; InvalidInput naming the file (and line) for anything unusable in it."""
    name = name or path.name
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"larger than {MAX_FILE_BYTES >> 20} MiB: not a trace file", field=name)
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"not UTF-8 text (byte {e.start})", field=name) from None
    except OSError as e:
        raise InvalidInput(f"cannot read: {e.strerror or e}", field=name) from None
    return parse_trace(text, name)


def read_dir(root: Path) -> tuple[list[Trace], list[InvalidInput]]:
    """Every usable trace under `root`, named by its path relative to it, and why each other
    trace file was set aside."""
    traces: list[Trace] = []
    refused: list[InvalidInput] = []
    for p in trace_files(root):
        try:
            traces.append(read_trace(p, str(p.relative_to(root))))
        except InvalidInput as e:
            refused.append(e)
    return traces, refused


def load_datasets(root: Path) -> dict[str, list[Trace]]:
    """Each sub-folder of `root` is one data set (the layout of the shared trace collection).
    Strict: the first unusable file raises, since a data set silently missing files skews training."""
    out: dict[str, list[Trace]] = {}
    if not root.is_dir():
        raise InvalidInput(f"not a directory: {root}", field="dir")
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        traces = [read_trace(p, f"{sub.name}/{p.relative_to(sub)}") for p in trace_files(sub)]
        if traces:
            out[sub.name] = traces
    if not out:
        raise InvalidInput(f"no data-set sub-folders with traces in {root}", field="dir")
    return out
