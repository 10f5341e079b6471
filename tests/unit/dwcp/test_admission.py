"""The sans-I/O half of the DWCP port's admission (dwcp/admission.py): slots per source and in
all, the log throttle, and what counts as one source."""

from __future__ import annotations

from novacron.dwcp.admission import Admission, Limits, Throttle, source_of


def test_admission_counts_per_source_and_in_all() -> None:
    adm = Admission(Limits(total=3, per_source=2))
    assert adm.admit("a") is None and adm.admit("a") is None
    assert "from a" in (adm.admit("a") or "")
    assert adm.admit("b") is None
    assert "at most 3" in (adm.admit("c") or "")
    adm.release("a")
    assert adm.admit("c") is None and adm.total == 3
    for src in ("a", "b", "c", "c"):  # one release too many is ignored
        adm.release(src)
    assert adm.total == 0 and adm.by_source == {}


def test_the_throttle_writes_one_line_per_interval_with_the_count() -> None:
    th = Throttle(10.0, max_keys=2)
    assert th.note("a", 0.0) == 1  # the first at once
    assert [th.note("a", t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert th.note("a", 10.0) == 4  # then one line for everything since
    assert th.note("b", 10.0) == 1
    assert th.note("c", 11.0) == 1  # a's and b's windows are still open: c shares a key with others
    assert th.note("d", 12.0) is None


def test_sources_are_addresses_and_ipv6_prefixes() -> None:
    assert source_of(("10.0.0.1", 5555)) == "10.0.0.1"
    assert source_of(("::ffff:10.0.0.1", 5555, 0, 0)) == "10.0.0.1"
    assert source_of(("2001:db8:1:2:3:4:5:6", 5555, 0, 0)) == source_of(("2001:db8:1:2::9", 1, 0, 0))
    assert source_of(("2001:db8:1:2::9", 1, 0, 0)) != source_of(("2001:db8:1:3::9", 1, 0, 0))
