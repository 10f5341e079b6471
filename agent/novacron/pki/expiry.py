"""Is a certificate due for renewal: expiring within a window, already expired, not yet valid,
or (when a CA is given) no longer issued by the cluster CA.

Why a window: renewing some days before expiry (the role runs this on every converge) leaves
room for a missed run; a certificate signed by another CA (the CA was remade) is as useless to
the cluster as an expired one, so it is due too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from novacron.pki.defaults import DEFAULT_RENEW_DAYS
from novacron.pki.errors import PkiError


@dataclass(frozen=True)
class Renewal:
    """`due`: replace the certificate now; `reason`: one line saying why (or why not)."""

    due: bool
    reason: str


def _day(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def renewal_due(cert: x509.Certificate, within_days: int = DEFAULT_RENEW_DAYS,
                ca_cert: x509.Certificate | None = None, now: dt.datetime | None = None) -> Renewal:
    """Due when `cert` is invalid at `now`, expires within `within_days` of it (the edge counts
    as within), or is not directly issued by `ca_cert`."""
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days < 0:
        raise PkiError("within_days", f"{within_days!r}: must be a whole number of days, 0 or more")
    now = now or dt.datetime.now(dt.UTC)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if ca_cert is not None and not issued_by(cert, ca_cert):
        return Renewal(True, f"not issued by the cluster CA ({ca_cert.subject.rfc4514_string()})")
    if now < start:
        return Renewal(True, f"not valid yet (valid from {_day(start)})")
    if now > end:
        return Renewal(True, f"expired on {_day(end)}")
    left = end - now
    window = dt.timedelta(days=within_days)
    if left <= window:
        return Renewal(True, f"expires on {_day(end)}, in {_days(left)}: within the {within_days}-day renewal window")
    return Renewal(False, f"valid until {_day(end)} ({_days(left)} left, beyond the {within_days}-day renewal window)")


def _days(left: dt.timedelta) -> str:
    if left >= dt.timedelta(days=1):
        return f"{left.days} day{'s' if left.days != 1 else ''}"
    return f"{int(left.total_seconds() // 3600)} h"


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True when `ca_cert`'s key signed `cert` and its subject is `cert`'s issuer."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
