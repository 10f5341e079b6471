"""Node keys, certificate requests, and node certificates signed by the cluster CA.

Why the signer decides: a node certificate is the node's identity in the cluster, so whatever a
request asks for, the certificate is built to one shape -- subject CN = node_id, DNS:<node_id>
among its SubjectAltNames, CA:false, digitalSignature, serverAuth + clientAuth, an EC P-256 key,
issued directly by the cluster CA. Only the names come from the request (checked); every other
extension it carries is ignored, and one asking to be a CA is refused.

A node's key normally never leaves it: the node makes key + request (`build_csr`), the controller
signs (`sign_csr`). `issue_node` does both in one place for manual set-ups.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from novacron.pki.authority import BACKDATE, SigningCA, check_days
from novacron.pki.defaults import DEFAULT_NODE_DAYS
from novacron.pki.errors import PkiError
from novacron.pki.files import CERT_MODE, KEY_MODE, cert_pem, key_pem, load_private_key, write_files
from novacron.pki.names import check_general_name, check_node_id, san_entries


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def load_or_create_key(path: Path, argument: str = "key") -> tuple[ec.EllipticCurvePrivateKey, bool]:
    """The EC P-256 key in `path`, or a new one (not yet written) and True when there is none."""
    if Path(path).exists():
        return load_private_key(path, argument), False
    if not Path(path).parent.is_dir():
        raise PkiError(argument, f"{path}: directory {Path(path).parent} does not exist")
    return new_key(), True


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """The key as PKCS#8 PEM, mode 0600, atomically."""
    write_files([(Path(path), key_pem(key), KEY_MODE)])


def build_csr(key: ec.EllipticCurvePrivateKey, node_id: str, hosts: tuple[str, ...] | list[str] = ()
              ) -> x509.CertificateSigningRequest:
    """A request for `node_id`'s certificate: CN = node_id, SANs DNS:<node_id> + `hosts`."""
    check_node_id(node_id)
    sans = san_entries(node_id, hosts)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )


def _requested(csr: x509.CertificateSigningRequest) -> x509.Extensions:
    try:
        return csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise PkiError("csr", f"its extensions cannot be read ({exc})") from None


def node_id_of(subject: x509.Name, argument: str) -> str:
    """The single common name of a node certificate's (or request's) subject."""
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        raise PkiError(argument, f"the subject must have exactly one common name (the node id), has {len(cns)}")
    value = cns[0].value
    return value if isinstance(value, str) else value.decode()


def _check_request(csr: x509.CertificateSigningRequest) -> tuple[str, list[x509.GeneralName]]:
    """The node id and SubjectAltNames a request may have, or a PkiError saying why not."""
    if not csr.is_signature_valid:
        raise PkiError("csr", "its signature does not verify (corrupted, or not signed by its own key)")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError("csr", "its key must be EC P-256")
    node_id = check_node_id(node_id_of(csr.subject, "csr"), "csr")
    requested = _requested(csr)
    try:
        if requested.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise PkiError("csr", "it asks for CA:true; a node certificate is never a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        names = list(requested.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        raise PkiError("csr", f"it has no SubjectAltName; DNS:{node_id} is required") from None
    for name in names:
        check_general_name(name, "csr")
    if x509.DNSName(node_id) not in names:
        raise PkiError("csr", f"its SubjectAltName lacks DNS:{node_id} (the node id of its subject CN)")
    return node_id, san_entries(node_id, names, "csr")


def sign_csr(ca: SigningCA, csr: x509.CertificateSigningRequest, days: int = DEFAULT_NODE_DAYS,
             now: dt.datetime | None = None) -> x509.Certificate:
    """The node certificate for a checked request, valid `days` (within the CA's own validity)."""
    check_days(days)
    node_id, sans = _check_request(csr)
    now = now or dt.datetime.now(dt.UTC)
    not_after = now + dt.timedelta(days=days)
    if not ca.cert.not_valid_before_utc <= now <= ca.cert.not_valid_after_utc:
        raise PkiError("ca", f"the cluster CA is not valid now (valid {ca.cert.not_valid_before_utc:%Y-%m-%d} "
                             f"to {ca.cert.not_valid_after_utc:%Y-%m-%d})")
    if not_after > ca.cert.not_valid_after_utc:
        raise PkiError("days", f"{days} days would outlast the cluster CA, which expires "
                               f"{ca.cert.not_valid_after_utc:%Y-%m-%d}; issue fewer days or make a new CA")
    try:
        ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    public_key = csr.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - BACKDATE, ca.cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def issue_node(ca: SigningCA, node_id: str, hosts: tuple[str, ...] | list[str] = (),
               days: int = DEFAULT_NODE_DAYS, now: dt.datetime | None = None
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and its certificate for `node_id`, in memory."""
    check_days(days)
    key = new_key()
    return key, sign_csr(ca, build_csr(key, node_id, hosts), days, now)


def chain_pem(cert: x509.Certificate, ca: SigningCA | x509.Certificate) -> bytes:
    """The node certificate followed by the CA certificate (the file the agent serves)."""
    return cert_pem(cert, ca.cert if isinstance(ca, SigningCA) else ca)


def node_paths(directory: Path, node_id: str) -> tuple[Path, Path]:
    """Where `novacron cert node` puts a node's files: <dir>/<node_id>.crt and <dir>/<node_id>.key."""
    return Path(directory) / f"{node_id}.crt", Path(directory) / f"{node_id}.key"


def write_node(directory: Path, node_id: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate,
               ca: SigningCA) -> tuple[Path, Path]:
    """<dir>/<node_id>.crt (full chain, 0644) and .key (0600), both or neither."""
    crt_path, key_path = node_paths(directory, node_id)
    write_files([(key_path, key_pem(key), KEY_MODE), (crt_path, chain_pem(cert, ca), CERT_MODE)])
    return crt_path, key_path
