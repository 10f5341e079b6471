"""Trace parsing and what a well-formed trace is, reading folders of trace files, and the by-file
split."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from novacron.cli import trace_files
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


@pytest.mark.parametrize(("text", "words"), [("", "at least 2"), ("# only a comment\n", "at least 2"),
                                            ("0 1\n", "at least 2"), ("0 1\n2e6 1\n", "at most"),
                                            ("0 1\n1 2e9\n", "0..1e+09"), ("2e10 1\n2e10 1\n", "within")])
def test_a_trace_that_is_no_trace_as_a_whole_names_the_file(text: str, words: str):
    with pytest.raises(InvalidInput) as e:
        traces.parse_trace(text, "one")
    assert e.value.field == "one" and words in e.value.detail


@pytest.mark.parametrize(
    ("t", "v", "words"),
    [
        ([0.0, 2.0, 1.0], [1.0, 1.0, 1.0], "backwards at sample 3"),
        ([0.0, 1.0], [1.0, float("nan")], "non-finite"),
        ([0.0, float("inf")], [1.0, 1.0], "non-finite"),
        ([0.0, 1.0], [1.0, -0.5], "0..1e+09"),
        ([0.0], [1.0], "at least 2"),
        ([0.0, 1.0, 2.0], [1.0, 1.0], "equal 1-D"),
    ],
)
def test_a_trace_built_in_code_is_checked_too(t, v, words):
    with pytest.raises(InvalidInput) as e:
        traces.Trace("built", np.array(t), np.array(v))
    assert e.value.field == "built" and words in e.value.detail


def test_repeated_timestamps_and_large_epoch_times_are_well_formed():
    tr = traces.Trace("ok", [1.6e9, 1.6e9, 1.6e9 + 0.25], [1, 2, 3])  # lists are taken as float arrays
    assert tr.t.dtype == np.float64 and tr.duration_s == 0.25


def test_read_dir_skips_docs_hidden_files_and_fifos(tmp_path: Path):
    (tmp_path / "README.md").write_text("not a trace")
    (tmp_path / "README").write_text("not a trace either")
    (tmp_path / ".hidden").write_text("junk")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a").write_text("0 1\n1 2\n")
    (tmp_path / "b.txt").write_text("0 1\n1 2\n")
    os.mkfifo(tmp_path / "pipe")  # reading it would block for ever
    got, refused = trace_files.read_dir(tmp_path)
    assert [t.name for t in got] == ["b.txt", "sub/a"] and refused == []


def test_read_dir_sets_aside_each_unusable_file_with_its_reason(tmp_path: Path):
    (tmp_path / "good").write_text("0 1\n1 2\n")
    (tmp_path / "binary").write_bytes(b"\x00\xff\xfe garbage")
    (tmp_path / "bad").write_text("0 1\n1 oops\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    got, refused = trace_files.read_dir(tmp_path)
    assert [t.name for t in got] == ["good"]
    assert {e.field: e.detail.split()[0] for e in refused} == {"bad:2": "not", "binary": "not", "empty": "a"}


def test_reading_a_missing_dir_names_the_argument(tmp_path: Path):
    for read in (trace_files.read_dir, trace_files.load_datasets):
        with pytest.raises(InvalidInput) as e:
            read(tmp_path / "nope")
        assert e.value.field == "dir"


def test_load_datasets_refuses_the_first_unusable_file(tmp_path: Path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "a").write_text("0 1\n1 2\n")
    (tmp_path / "set" / "b").write_text("0 1\n")
    with pytest.raises(InvalidInput) as e:
        trace_files.load_datasets(tmp_path)
    assert e.value.field == "set/b"


def test_load_datasets_names_files_by_data_set(sample_dir: Path):
    ds = trace_files.load_datasets(sample_dir)
    assert sorted(ds) == ["fcc-hsdpa-mixed", "hsdpa-3g", "oboe", "puffer-2021-10-17"]
    assert all(len(v) == 2 and all(t.name.startswith(d + "/") for t in v) for d, v in ds.items())


def test_split_is_by_file_deterministic_and_about_30_percent():
    names = [f"set/file_{i}" for i in range(2000)]
    test = [n for n in names if traces.is_test(n)]
    assert 0.27 < len(test) / len(names) < 0.33
    assert test == [n for n in names if traces.is_test(n)]
    # the hash includes the data-set name: the same file name may fall differently in another set
    assert any(traces.is_test(f"a/{i}") != traces.is_test(f"b/{i}") for i in range(50))
