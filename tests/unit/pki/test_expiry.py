"""When a certificate is due for renewal: the window's edges, expired, not yet valid, another CA."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from novacron.pki.authority import SigningCA, create_ca
from novacron.pki.errors import PkiError
from novacron.pki.expiry import renewal_due
from novacron.pki.node_cert import issue_node

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def cert(ca: SigningCA) -> x509.Certificate:
    return issue_node(ca, "hv01", days=100)[1]


def test_beyond_the_window_is_not_due(cert: x509.Certificate) -> None:
    result = renewal_due(cert, 30)
    assert not result.due and "beyond the 30-day renewal window" in result.reason


def test_edges_of_the_window(cert: x509.Certificate) -> None:
    end = cert.not_valid_after_utc
    window = dt.timedelta(days=30)
    assert not renewal_due(cert, 30, now=end - window - SECOND).due
    on_edge = renewal_due(cert, 30, now=end - window)
    assert on_edge.due and "within the 30-day renewal window" in on_edge.reason
    assert renewal_due(cert, 30, now=end - window + SECOND).due


def test_zero_window_means_only_expired(cert: x509.Certificate) -> None:
    end = cert.not_valid_after_utc
    assert not renewal_due(cert, 0, now=end - SECOND).due
    assert renewal_due(cert, 0, now=end).due  # the last instant counts as within a 0-day window


def test_expired(cert: x509.Certificate) -> None:
    result = renewal_due(cert, 30, now=cert.not_valid_after_utc + SECOND)
    assert result.due and result.reason.startswith("expired on")


def test_not_yet_valid(cert: x509.Certificate) -> None:
    result = renewal_due(cert, 30, now=cert.not_valid_before_utc - SECOND)
    assert result.due and result.reason.startswith("not valid yet")
    assert not renewal_due(cert, 30, now=cert.not_valid_before_utc).due


def test_a_window_longer_than_the_validity_is_always_due(cert: x509.Certificate) -> None:
    assert renewal_due(cert, 101).due  # how the role test forces a renewal


def test_issued_by_another_ca_is_due(cert: x509.Certificate, ca: SigningCA, tmp_path: Path) -> None:
    assert not renewal_due(cert, 30, ca_cert=ca.cert).due
    other = create_ca(tmp_path / "other")
    result = renewal_due(cert, 30, ca_cert=other.cert)
    assert result.due and "not issued by the cluster CA" in result.reason


@pytest.mark.parametrize("days", [-1, True, 1.5, "30"])
def test_bad_window_names_the_argument(cert: x509.Certificate, days: object) -> None:
    with pytest.raises(PkiError) as err:
        renewal_due(cert, days)  # type: ignore[arg-type]
    assert err.value.argument == "within_days"
