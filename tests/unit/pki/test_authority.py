"""The cluster CA: its shape, its files (modes, atomic, never silently replaced), loading it back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from novacron.pki.authority import SigningCA, build_ca, create_ca, load_ca
from novacron.pki.errors import PkiError


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def test_ca_is_a_self_signed_p256_ca_with_the_conventions(ca: SigningCA) -> None:
    cert = ca.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "NovaCron cluster CA"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # self-signed with its own key
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= dt.timedelta(days=3650)


def test_name_and_days(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "ca", days=10, name="Lab CA")
    assert ca.cert.subject.rfc4514_string() == "CN=Lab CA"
    assert dt.timedelta(days=10) <= ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc \
        <= dt.timedelta(days=10, minutes=10)


def test_files_have_exact_modes_under_a_permissive_umask(ca_dir: Path, permissive_umask: None) -> None:
    create_ca(ca_dir)
    assert (ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (ca_dir / "ca.crt").stat().st_mode & 0o777 == 0o644
    assert ca_dir.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca.crt", "ca.key"]  # no temporary files left


def test_refuses_to_overwrite_unless_forced(ca_dir: Path, ca: SigningCA) -> None:
    before = {p.name: p.read_bytes() for p in ca_dir.iterdir()}
    with pytest.raises(PkiError) as err:
        create_ca(ca_dir)
    assert err.value.argument == "directory" and "already holds a CA" in err.value.message
    assert {p.name: p.read_bytes() for p in ca_dir.iterdir()} == before
    create_ca(ca_dir, force=True)
    assert (ca_dir / "ca.crt").read_bytes() != before["ca.crt"]


def test_a_lone_key_also_counts_as_an_existing_ca(ca_dir: Path) -> None:
    ca_dir.mkdir()
    (ca_dir / "ca.key").write_text("precious")
    with pytest.raises(PkiError, match="ca.key"):
        create_ca(ca_dir)
    assert (ca_dir / "ca.key").read_text() == "precious" and not (ca_dir / "ca.crt").exists()


def test_load_round_trip(ca_dir: Path, ca: SigningCA) -> None:
    loaded = load_ca(ca_dir)
    assert loaded.cert == ca.cert
    assert loaded.key.public_key() == ca.key.public_key()


def test_load_refuses_a_key_of_another_ca(ca_dir: Path, ca: SigningCA, tmp_path: Path) -> None:
    other = create_ca(tmp_path / "other")
    assert other.cert != ca.cert
    (ca_dir / "ca.key").write_bytes((tmp_path / "other" / "ca.key").read_bytes())
    with pytest.raises(PkiError) as err:
        load_ca(ca_dir)
    assert err.value.argument == "ca" and "is not the key of" in err.value.message


def test_load_missing_directory_names_the_argument(tmp_path: Path) -> None:
    with pytest.raises(PkiError) as err:
        load_ca(tmp_path / "nowhere")
    assert err.value.argument == "ca" and "no such directory" in err.value.message


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"days": 0}, "days"), ({"days": -5}, "days"), ({"days": 36501}, "days"), ({"days": True}, "days"),
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 65}, "name"),
])
def test_bad_input_names_the_argument_and_writes_nothing(tmp_path: Path, kwargs: dict, argument: str) -> None:
    with pytest.raises(PkiError) as err:
        create_ca(tmp_path / "ca", **kwargs)
    assert err.value.argument == argument
    assert not (tmp_path / "ca").exists()


def test_out_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PkiError, match="not a directory") as err:
        create_ca(tmp_path / "file")
    assert err.value.argument == "directory"


def test_build_ca_is_in_memory_only(tmp_path: Path) -> None:
    ca = build_ca("Mem CA", 1)
    assert ca.name == "CN=Mem CA" and list(tmp_path.iterdir()) == []
