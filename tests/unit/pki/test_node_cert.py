"""Node certificates: the conventions every node certificate has, whatever its request asked for."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from novacron.pki.authority import SigningCA, create_ca
from novacron.pki.errors import PkiError
from novacron.pki.files import load_certificates
from novacron.pki.node_cert import build_csr, issue_node, new_key, sign_csr, write_node


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def raw_csr(cn: list[str], sans: list[x509.GeneralName] | None, key=None, extra=()) -> x509.CertificateSigningRequest:  # type: ignore[no-untyped-def]
    """A request built by hand, asking for whatever a test needs (not through build_csr's checks)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, c) for c in cn]))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key or new_key(), hashes.SHA256())


def test_issued_node_certificate_follows_the_conventions(ca: SigningCA) -> None:
    key, cert = issue_node(ca, "hv01", ["10.0.0.5", "DNS:hv01.example.com", "IP:::1"])
    assert cert.subject.rfc4514_string() == "CN=hv01"
    assert cert.issuer == ca.cert.subject
    san = ext(cert, x509.SubjectAlternativeName).value
    assert list(san) == [x509.DNSName("hv01"), x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
                         x509.DNSName("hv01.example.com"), x509.IPAddress(ipaddress.ip_address("::1"))]
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key() == key.public_key()
    assert isinstance(key.curve, ec.SECP256R1)
    cert.verify_directly_issued_by(ca.cert)


def test_chain_verifies_for_server_and_client_use(ca: SigningCA) -> None:
    _, cert = issue_node(ca, "hv01", ["127.0.0.1"])
    policy = PolicyBuilder().store(Store([ca.cert])).time(dt.datetime.now(dt.UTC))
    chain = policy.build_server_verifier(x509.DNSName("hv01")).verify(cert, [])
    assert chain == [cert, ca.cert]
    client = policy.build_client_verifier().verify(cert, [])
    assert x509.DNSName("hv01") in client.subjects


def test_a_certificate_of_another_ca_does_not_verify(ca: SigningCA, tmp_path: Path) -> None:
    other = create_ca(tmp_path / "other")
    _, cert = issue_node(other, "hv01")
    verifier = PolicyBuilder().store(Store([ca.cert])).build_server_verifier(x509.DNSName("hv01"))
    with pytest.raises(x509.verification.VerificationError):
        verifier.verify(cert, [])


def test_request_then_sign_keeps_the_names_and_the_key(ca: SigningCA) -> None:
    key = new_key()
    csr = build_csr(key, "edge-7.dc1", ["edge-7.dc1.example", "192.0.2.7"])
    cert = sign_csr(ca, csr, days=30)
    assert cert.public_key() == key.public_key()
    names = ext(cert, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["edge-7.dc1", "edge-7.dc1.example"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    assert dt.timedelta(days=30) <= cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=30, minutes=6)


def test_other_requested_extensions_are_not_copied(ca: SigningCA) -> None:
    greedy_ku = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                              data_encipherment=True, key_agreement=True, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False)
    csr = raw_csr(["hv01"], [x509.DNSName("hv01")], extra=[
        (greedy_ku, True), (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True)])
    cert = sign_csr(ca, csr)
    ku = ext(cert, x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign and not ku.crl_sign and not ku.key_encipherment
    assert ExtendedKeyUsageOID.CODE_SIGNING not in ext(cert, x509.ExtendedKeyUsage).value


@pytest.mark.parametrize(("csr_args", "message"), [
    ((["hv01"], [x509.DNSName("other")]), "lacks DNS:hv01"),
    ((["hv01"], None), "no SubjectAltName"),
    ((["bad id"], [x509.DNSName("bad id")]), "not a valid node id"),
    ((["-x"], [x509.DNSName("-x")]), "not a valid node id"),
    ((["a" * 64], [x509.DNSName("a" * 64)]), "not a valid node id"),
    ((["hv01", "hv02"], [x509.DNSName("hv01")]), "exactly one common name"),
    ((["hv01"], [x509.DNSName("hv01"), x509.DNSName("*.example.com")]), "no wildcards"),
    ((["hv01"], [x509.DNSName("hv01"), x509.UniformResourceIdentifier("spiffe://x/hv01")]),
     "only DNS names and IP addresses"),
])
def test_sign_refuses_requests_that_break_the_conventions(ca: SigningCA, csr_args: tuple, message: str) -> None:
    with pytest.raises(PkiError) as err:
        sign_csr(ca, raw_csr(*csr_args))
    assert err.value.argument == "csr" and message in err.value.message


def test_sign_refuses_a_request_for_a_ca(ca: SigningCA) -> None:
    csr = raw_csr(["hv01"], [x509.DNSName("hv01")], extra=[(x509.BasicConstraints(ca=True, path_length=None), True)])
    with pytest.raises(PkiError, match="CA:true") as err:
        sign_csr(ca, csr)
    assert err.value.argument == "csr"


def test_sign_refuses_a_key_that_is_not_p256(ca: SigningCA) -> None:
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        with pytest.raises(PkiError, match="EC P-256"):
            sign_csr(ca, raw_csr(["hv01"], [x509.DNSName("hv01")], key=key))


def test_validity_stays_within_the_ca(tmp_path: Path) -> None:
    short = create_ca(tmp_path / "short", days=10)
    with pytest.raises(PkiError, match="outlast the cluster CA") as err:
        issue_node(short, "hv01", days=11)
    assert err.value.argument == "days"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    with pytest.raises(PkiError, match="not valid now") as err:
        issue_node(short, "hv01", days=1, now=later)
    assert err.value.argument == "ca"


@pytest.mark.parametrize(("node_id", "hosts", "argument"), [
    ("bad/id", [], "node_id"), ("", [], "node_id"), ("hv01", ["a b"], "hosts"), ("hv01", ["IP:10.0.0.300"], "hosts"),
    ("hv01", ["*.example.com"], "hosts"), ("hv01", ["DNS:"], "hosts"),
])
def test_bad_node_input_names_the_argument(ca: SigningCA, node_id: str, hosts: list[str], argument: str) -> None:
    with pytest.raises(PkiError) as err:
        issue_node(ca, node_id, hosts)
    assert err.value.argument == argument


def test_node_files_are_key_0600_and_full_chain(ca: SigningCA, tmp_path: Path, permissive_umask: None) -> None:
    key, cert = issue_node(ca, "hv01")
    crt_path, key_path = write_node(tmp_path, "hv01", key, cert, ca)
    assert (crt_path.name, key_path.name) == ("hv01.crt", "hv01.key")
    assert key_path.stat().st_mode & 0o777 == 0o600 and crt_path.stat().st_mode & 0o777 == 0o644
    assert load_certificates(crt_path.read_bytes(), "cert", str(crt_path)) == [cert, ca.cert]


def test_certificates_are_accepted_by_the_peer_identity_check(ca: SigningCA) -> None:
    """The lead's peer authentication (novacron.pki.identity) reads what this package issues."""
    identity = pytest.importorskip("novacron.pki.identity")
    if not hasattr(identity, "ClusterCA") or not hasattr(identity.ClusterCA, "identify"):
        pytest.skip("novacron.pki.identity has no ClusterCA.identify")
    _, cert = issue_node(ca, "hv-42", ["10.1.2.3"])
    peer = identity.ClusterCA(ca.cert).identify(cert, dt.datetime.now(dt.UTC))
    assert peer.node_id == "hv-42"
