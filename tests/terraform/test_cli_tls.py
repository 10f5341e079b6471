"""An HTTPS agent: the provider trusts it through `ca_cert` (PEM text here), and only then."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.terraform.conftest import Tf

pytestmark = [pytest.mark.integration]


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tf-tls-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "api.crt", directory / "api.key"
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path.write_text(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, pem


def test_https_agent_with_ca_cert(tf: Tf, agent_factory: Any, tmp_path: Path) -> None:
    cert, key, pem = self_signed(tmp_path / "pki")
    agent = agent_factory("tf-tls", overrides={"api": {"tls_cert": str(cert), "tls_key": str(key)}})
    assert agent.url.startswith("https://")
    data = 'data "novacron_node" "here" {}\noutput "node" { value = data.novacron_node.here.node_id }\n'

    tf.write(data, endpoint=agent.url, token=agent.token)  # no ca_cert: the agent is not trusted
    tf.init()
    untrusted = tf.run("plan", expect=1)
    assert "NovaCron agent unreachable" in untrusted and "CERTIFICATE_VERIFY_FAILED" in untrusted

    heredoc = f'  ca_cert  = <<-EOT\n{pem}  EOT\n'
    tf.write(data, endpoint=agent.url, token=agent.token, extra_provider=heredoc)
    applied = tf.run("apply", "-auto-approve")
    assert 'node = "tf-tls"' in applied
