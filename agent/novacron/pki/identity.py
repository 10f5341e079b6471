"""Who a peer is: the node id in a certificate the cluster CA issued.

A node certificate names its node in the subject CN and again as a DNS name in its SubjectAltName
(the name DWCP's TLS clients check when they dial it); both must agree. Only certificates issued
directly by the cluster CA count: the cluster has one CA and no intermediates, so there is no
chain to build and nothing else to trust.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from novacron_sdk.models.node import NODE_ID_PATTERN

NODE_ID_RE = re.compile(NODE_ID_PATTERN)
_CACHE_MAX = 1024


class IdentityError(ValueError):
    """The certificate does not prove a node of this cluster; the message is safe to show."""


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    not_after: datetime
    fingerprint: str


class ClusterCA:
    """The cluster CA's certificate, and the check that a presented certificate names a node of it."""

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self._seen: dict[str, NodeIdentity] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> ClusterCA:
        try:
            certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise IdentityError(f"cannot read the cluster CA {path}: {exc}") from None
        return cls(certs[0])

    def identify(self, leaf: x509.Certificate, now: datetime) -> NodeIdentity:
        """The node `leaf` names, if this CA issued it and it is valid at `now` (tz-aware)."""
        fingerprint = hashlib.sha256(leaf.tbs_certificate_bytes + leaf.signature).hexdigest()
        with self._lock:
            known = self._seen.get(fingerprint)
        if known is None:
            known = self._verify(leaf, fingerprint)
            with self._lock:
                if len(self._seen) >= _CACHE_MAX:
                    self._seen.clear()
                self._seen[fingerprint] = known
        if not leaf.not_valid_before_utc <= now <= known.not_after:
            raise IdentityError("the node certificate is not valid now")
        return known

    def _verify(self, leaf: x509.Certificate, fingerprint: str) -> NodeIdentity:
        try:
            leaf.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise IdentityError("the certificate was not issued by this cluster's CA") from None
        constraints = _extension(leaf, x509.BasicConstraints)
        if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
            raise IdentityError("a CA certificate is not a node certificate")
        eku = _extension(leaf, x509.ExtendedKeyUsage)
        if isinstance(eku, x509.ExtendedKeyUsage) and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise IdentityError("the certificate is not for client authentication")
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        node = names[0].value if len(names) == 1 else None
        if not isinstance(node, str) or not NODE_ID_RE.match(node):
            raise IdentityError("the certificate's subject CN is not a node id")
        san = _extension(leaf, x509.SubjectAlternativeName)
        if not isinstance(san, x509.SubjectAlternativeName) or node not in san.get_values_for_type(x509.DNSName):
            raise IdentityError(f"the certificate of {node!r} does not carry DNS:{node} in its SubjectAltName")
        return NodeIdentity(node, leaf.not_valid_after_utc, fingerprint)


def _extension(cert: x509.Certificate, kind: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
