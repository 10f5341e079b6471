"""Trace parsing, folder loading and the by-file split."""

from __future__ import annotations

from pathlib import Path

import pytest

from novacron.dwcp.pba import traces
from novacron_sdk.errors import InvalidInput


def test_parse_whitespace_comments_and_blank_lines():
    tr = traces.parse_trace("# header\n0.0\t1.5\n\n1.0  2.5\n2.5 0\n", "x")
    assert tr.t.tolist() == [0.0, 1.0, 2.5]
    assert tr.mbps.tolist() == [1.5, 2.5, 0.0]
    assert tr.duration_s == 2.5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("0 1\n1 x\n", 2, "not a number"),
        ("0 1\n1 2 3\n", 2, "expected"),
        ("0 1\n2 1\n1 1\n", 3, "backwards"),
        ("0 1\n1 -2\n", 2, ">= 0"),
        ("0 1\n1 nan\n", 2, "non-finite"),
    ],
)
def test_bad_lines_name_file_and_line(text, line, words):
    with pytest.raises(InvalidInput) as e:
        traces.parse_trace(text, "link.log")
    assert e.value.field == f"link.log:{line}"
    assert words in e.value.detail


def test_too_short_trace_is_rejected():
    with pytest.raises(InvalidInput) as e:
        traces.parse_trace("0 1\n", "one")
    assert e.value.field == "one"


def test_load_dir_skips_docs_and_hidden_files(tmp_path: Path):
    (tmp_path / "README.md").write_text("not a trace")
    (tmp_path / ".hidden").write_text("junk")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a").write_text("0 1\n1 2\n")
    (tmp_path / "b.txt").write_text("0 1\n1 2\n")
    assert [t.name for t in traces.load_dir(tmp_path)] == ["b.txt", "sub/a"]


def test_load_dir_rejects_missing_dir(tmp_path: Path):
    with pytest.raises(InvalidInput) as e:
        traces.load_dir(tmp_path / "nope")
    assert e.value.field == "dir"


def test_load_datasets_names_files_by_data_set(sample_dir: Path):
    ds = traces.load_datasets(sample_dir)
    assert sorted(ds) == ["fcc-hsdpa-mixed", "hsdpa-3g", "oboe", "puffer-2021-10-17"]
    assert all(len(v) == 2 and all(t.name.startswith(d + "/") for t in v) for d, v in ds.items())


def test_split_is_by_file_deterministic_and_about_30_percent():
    names = [f"set/file_{i}" for i in range(2000)]
    test = [n for n in names if traces.is_test(n)]
    assert 0.27 < len(test) / len(names) < 0.33
    assert test == [n for n in names if traces.is_test(n)]
    # the hash includes the data-set name: the same file name may fall differently in another set
    assert any(traces.is_test(f"a/{i}") != traces.is_test(f"b/{i}") for i in range(50))
