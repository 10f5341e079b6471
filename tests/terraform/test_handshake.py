"""go-plugin handshake and AutoMTLS: the executable as Terraform starts it, spoken to over gRPC."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from novacron_tf.handshake import (
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    HandshakeError,
    check_cookie,
    handshake_line,
    negotiate,
    parse_handshake_line,
)
from novacron_tf.protos import stubs

PROVIDER = Path(sys.executable).parent / "terraform-provider-novacron"


def test_negotiation_picks_protocol_6() -> None:
    assert negotiate({"PLUGIN_PROTOCOL_VERSIONS": "5,6"}) == 6
    assert negotiate({}) == 6
    with pytest.raises(HandshakeError, match="offers 4,5"):
        negotiate({"PLUGIN_PROTOCOL_VERSIONS": "4,5"})
    with pytest.raises(HandshakeError, match="not meant to be executed directly"):
        check_cookie({})
    check_cookie({MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE})


def test_handshake_line_format_and_unpadded_certificate() -> None:
    der = bytes(range(10))  # 10 bytes: standard base64 would end in "=="
    line = handshake_line(6, "127.0.0.1", 4321, der)
    assert line == "1|6|tcp|127.0.0.1:4321|grpc|AAECAwQFBgcICQ"
    assert parse_handshake_line(line) == {"core": 1, "version": 6, "network": "tcp", "host": "127.0.0.1",
                                          "port": 4321, "protocol": "grpc", "cert_der": der}


def go_plugin_client_cert() -> tuple[bytes, bytes]:
    """A certificate made the way go-plugin's AutoMTLS makes Terraform's: self-signed ECDSA P-521."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(seconds=30))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA512()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _env(client_cert: bytes | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "PLUGIN_"))}
    env.update({MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "5,6"})
    if client_cert:
        env["PLUGIN_CLIENT_CERT"] = client_cert.decode()
    return env


@pytest.fixture
def plugin() -> Iterator[tuple[subprocess.Popen[str], dict[str, object], bytes, bytes]]:
    cert, key = go_plugin_client_cert()
    proc = subprocess.Popen([str(PROVIDER)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(cert))
    try:
        assert proc.stdout is not None
        info = parse_handshake_line(proc.stdout.readline())
        yield proc, info, cert, key
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _channel(info: dict[str, object], cert: bytes, key: bytes) -> grpc.Channel:
    server_pem = x509.load_der_x509_certificate(info["cert_der"]).public_bytes(serialization.Encoding.PEM)
    creds = grpc.ssl_channel_credentials(root_certificates=server_pem, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(f"{info['host']}:{info['port']}", creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])


def test_mutual_tls_with_a_go_plugin_style_certificate(plugin: tuple) -> None:  # type: ignore[type-arg]
    proc, info, cert, key = plugin
    assert (info["core"], info["version"], info["network"], info["protocol"]) == (1, 6, "tcp", "grpc")
    server_cert = x509.load_der_x509_certificate(info["cert_der"])
    names = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    s = stubs()
    with _channel(info, cert, key) as channel:
        schema = s.pb_grpc.ProviderStub(channel).GetProviderSchema(s.pb.GetProviderSchema.Request(), timeout=20)
        assert "novacron_vm" in schema.resource_schemas
        health = s.health_grpc.HealthStub(channel).Check(s.health.HealthCheckRequest(service="plugin"), timeout=10)
        assert health.status == s.health.HealthCheckResponse.SERVING
        s.plugin_grpc.GRPCControllerStub(channel).Shutdown(s.plugin.Empty(), timeout=10)
    assert proc.wait(15) == 0
    assert proc.stdout is not None and proc.stdout.read() == "", "stdout after the handshake line"


def test_a_client_without_terraforms_certificate_is_refused(plugin: tuple) -> None:  # type: ignore[type-arg]
    _proc, info, _cert, _key = plugin
    other_cert, other_key = go_plugin_client_cert()
    s = stubs()
    with _channel(info, other_cert, other_key) as channel, pytest.raises(grpc.RpcError) as exc:
        s.pb_grpc.ProviderStub(channel).GetProviderSchema(s.pb.GetProviderSchema.Request(), timeout=10)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


def test_started_by_hand_it_explains_and_exits() -> None:
    proc = subprocess.run([str(PROVIDER)], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != MAGIC_COOKIE_KEY})
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Terraform plugin" in proc.stderr and "not meant to be executed directly" in proc.stderr


def test_a_terraform_too_old_for_protocol_6_is_told_on_the_handshake_channel() -> None:
    env = {**_env(None), "PLUGIN_PROTOCOL_VERSIONS": "4,5"}
    proc = subprocess.run([str(PROVIDER)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1
    (line,) = proc.stdout.splitlines()  # Terraform prints it as "Unrecognized remote plugin message"
    assert "failed to start" in line and "speaks plugin protocol 6" in line and "offers 4,5" in line


def test_plaintext_when_terraform_disables_plugin_tls() -> None:
    proc = subprocess.Popen([str(PROVIDER)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=_env(None))
    try:
        assert proc.stdout is not None
        info = parse_handshake_line(proc.stdout.readline())
        assert info["cert_der"] is None
        s = stubs()
        with grpc.insecure_channel(f"{info['host']}:{info['port']}") as channel:
            s.plugin_grpc.GRPCControllerStub(channel).Shutdown(s.plugin.Empty(), timeout=10)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_exits_when_terraform_dies_without_saying_goodbye(tmp_path: Path) -> None:
    """A shell stands in for Terraform: it starts the provider, prints its pid, and is killed."""
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen(["sh", "-c", f'"{PROVIDER}" & echo $! > "{pid_file}"; wait'],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(None), text=True)
    assert parent.stdout is not None
    parse_handshake_line(parent.stdout.readline())  # up and serving
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 30  # reparented, it notices within its 0.5 s poll, then stops
    while time.monotonic() < deadline:
        if not _alive(child):
            return
        time.sleep(0.1)
    os.kill(child, 9)
    raise AssertionError("the provider outlived its parent")


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie left for an init that reaps lazily."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
