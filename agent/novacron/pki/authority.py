"""The cluster CA: made once on the controller, it signs every node certificate of a cluster.

Why one CA: agents authenticate each other (DWCP mutual TLS, peer API) and clients pin a single
ca.crt. Its key stays where it was made (ca.key, 0600); ca.crt (0644) goes to every node. An
existing CA is never replaced unless forced: that would orphan every certificate it signed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from novacron.pki.defaults import DEFAULT_CA_DAYS, DEFAULT_CA_NAME
from novacron.pki.errors import PkiError
from novacron.pki.files import (
    CERT_MODE,
    KEY_MODE,
    cert_pem,
    ensure_directory,
    key_pem,
    load_certificate,
    load_private_key,
    write_files,
)

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
MAX_DAYS = 36500
# Issued certificates start a little in the past, so hosts whose clocks lag still accept them.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class SigningCA:
    """The CA certificate and its key, in memory: what signs (identity.py's CA only verifies)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def name(self) -> str:
        return self.cert.subject.rfc4514_string()


def check_days(days: int, argument: str = "days") -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise PkiError(argument, f"{days!r}: must be a whole number of days from 1 to {MAX_DAYS}")
    return days


def build_ca(name: str = DEFAULT_CA_NAME, days: int = DEFAULT_CA_DAYS, now: dt.datetime | None = None) -> SigningCA:
    """A new self-signed EC P-256 CA, valid for `days` from now."""
    check_days(days)
    if not name.strip() or len(name) > 64:
        raise PkiError("name", f"{name!r}: must be 1 to 64 characters, not only spaces")
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SigningCA(cert, key)


def create_ca(directory: Path, days: int = DEFAULT_CA_DAYS, name: str = DEFAULT_CA_NAME, force: bool = False,
              now: dt.datetime | None = None) -> SigningCA:
    """Make a CA and write `directory`/ca.crt (0644) and ca.key (0600), both or neither.

    Refuses when either file exists, unless `force`.
    """
    directory = Path(directory)
    existing = [n for n in (CA_CERT, CA_KEY) if (directory / n).exists()]
    if existing and not force:
        raise PkiError("directory", f"{directory} already holds a CA ({', '.join(existing)}); "
                                    "replacing it would invalidate every certificate it signed (--force replaces it)")
    ca = build_ca(name, days, now)
    ensure_directory(directory, "directory")
    write_files([(directory / CA_KEY, key_pem(ca.key), KEY_MODE),
                 (directory / CA_CERT, cert_pem(ca.cert), CERT_MODE)])
    return ca


def load_ca(directory: Path) -> SigningCA:
    """The CA in `directory` (ca.crt and ca.key), checked to be a CA whose key matches."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PkiError("ca", f"{directory}: no such directory")
    cert = load_certificate(directory / CA_CERT, "ca")
    key = load_private_key(directory / CA_KEY, "ca")
    if not is_ca(cert):
        raise PkiError("ca", f"{directory / CA_CERT}: not a CA certificate (no BasicConstraints CA:true)")
    if cert.public_key() != key.public_key():
        raise PkiError("ca", f"{directory / CA_KEY} is not the key of {directory / CA_CERT}")
    return SigningCA(cert, key)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
