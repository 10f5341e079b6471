"""`novacron cert ...` as a user runs it: a real subprocess, its exit code, its files, its messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

NOVACRON = Path(sys.executable).parent / "novacron"


def cert(*args: str | Path, stdin: str | None = None, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run([str(NOVACRON), "cert", *map(str, args)], capture_output=True, text=True, input=stdin,
                          timeout=60, preexec_fn=set_umask)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    out = tmp_path / "ca"
    result = cert("ca", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_ca_then_node_then_check_and_show(ca_dir: Path, tmp_path: Path) -> None:
    assert (mode(ca_dir / "ca.key"), mode(ca_dir / "ca.crt")) == (0o600, 0o644)
    nodes = tmp_path / "nodes"
    result = cert("node", "hv01", "--ca", ca_dir, "--out", nodes, "--host", "10.0.0.5", "--days", "90", umask=0)
    assert result.returncode == 0, result.stderr
    assert (mode(nodes / "hv01.key"), mode(nodes / "hv01.crt")) == (0o600, 0o644)
    chain = x509.load_pem_x509_certificates((nodes / "hv01.crt").read_bytes())
    assert chain[1] == x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    chain[0].verify_directly_issued_by(chain[1])

    ok = cert("check", nodes / "hv01.crt", "--ca", ca_dir)
    assert ok.returncode == 0 and ": ok: valid until" in ok.stdout and len(ok.stdout.splitlines()) == 1
    due = cert("check", nodes / "hv01.crt", "--renew-within-days", "90")
    assert due.returncode == 1 and "within the 90-day renewal window" in due.stdout

    shown = json.loads(cert("show", nodes / "hv01.crt", "--json").stdout)
    assert shown["node_id"] == "hv01" and shown["sans"] == ["DNS:hv01", "IP:10.0.0.5"]
    assert shown["issuer"] == "CN=NovaCron cluster CA" and shown["chain_length"] == 2
    text = cert("show", nodes / "hv01.crt").stdout
    assert "node id:    hv01" in text and "not after:" in text


def test_ca_refuses_to_overwrite(ca_dir: Path) -> None:
    before = (ca_dir / "ca.key").read_bytes()
    result = cert("ca", "--out", ca_dir)
    assert result.returncode == 2 and "--out:" in result.stderr and "--force" in result.stderr
    assert (ca_dir / "ca.key").read_bytes() == before
    assert cert("ca", "--out", ca_dir, "--force", "--name", "New CA").returncode == 0
    assert (ca_dir / "ca.key").read_bytes() != before


def test_node_refuses_to_overwrite_its_files(ca_dir: Path, tmp_path: Path) -> None:
    assert cert("node", "hv01", "--ca", ca_dir, "--out", tmp_path / "n").returncode == 0
    key = (tmp_path / "n" / "hv01.key").read_bytes()
    again = cert("node", "hv01", "--ca", ca_dir, "--out", tmp_path / "n")
    assert again.returncode == 2 and "already exist" in again.stderr
    assert (tmp_path / "n" / "hv01.key").read_bytes() == key


def test_request_keeps_the_key_and_sign_reads_stdin(ca_dir: Path, tmp_path: Path) -> None:
    key, csr = tmp_path / "agent.key", tmp_path / "agent.csr"
    first = cert("request", "hv02", "--key", key, "--out", csr, "--host", "DNS:hv02.lan", umask=0)
    assert first.returncode == 0, first.stderr
    assert mode(key) == 0o600 and mode(csr) == 0o644
    key_bytes = key.read_bytes()
    assert cert("request", "hv02", "--key", key, "--out", csr).returncode == 0
    assert key.read_bytes() == key_bytes  # an existing key is kept: renewal reuses it

    signed = cert("sign", "--ca", ca_dir, "--csr", "-", "--out", "-", "--days", "1", stdin=csr.read_text())
    assert signed.returncode == 0, signed.stderr
    chain = x509.load_pem_x509_certificates(signed.stdout.encode())
    assert len(chain) == 2 and chain[0].subject.rfc4514_string() == "CN=hv02"
    (tmp_path / "agent.crt").write_text(signed.stdout)
    assert cert("check", tmp_path / "agent.crt").returncode == 1  # 1 day left, 30-day window

    out = tmp_path / "file.crt"
    assert cert("sign", "--ca", ca_dir, "--csr", csr, "--out", out).returncode == 0
    assert mode(out) == 0o644 and x509.load_pem_x509_certificates(out.read_bytes())[0].subject == chain[0].subject


def test_sign_refuses_a_request_for_another_name(ca_dir: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hv01")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("hv99")]), critical=False)
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    out = tmp_path / "x.crt"
    result = cert("sign", "--ca", ca_dir, "--csr", "-", "--out", out,
                  stdin=csr.public_bytes(serialization.Encoding.PEM).decode())
    assert result.returncode == 2 and "--csr: its SubjectAltName lacks DNS:hv01" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["node", "bad id", "--ca", "{ca}", "--out", "{tmp}/n"], "NODE_ID: 'bad id' is not a valid node id"),
    (["node", "hv01", "--ca", "{tmp}/none", "--out", "{tmp}/n"], "--ca: {tmp}/none: no such directory"),
    (["node", "hv01", "--ca", "{ca}", "--out", "{tmp}/n", "--days", "0"], "--days: 0: must be"),
    (["node", "hv01", "--ca", "{ca}", "--out", "{tmp}/n", "--days", "4000"], "--days: 4000 days would outlast"),
    (["node", "hv01", "--ca", "{ca}", "--out", "{tmp}/n", "--host", "*.x"], "--host: '*.x' is neither"),
    (["node", "hv01", "--ca", "{ca}", "--out", "{tmp}/n", "--days", "ten"], "argument --days: invalid int value"),
    (["request", "hv/01", "--key", "{tmp}/n.key", "--out", "{tmp}/n.csr"], "NODE_ID: 'hv/01'"),
    (["request", "hv01", "--key", "{ca}/ca.crt", "--out", "{tmp}/n.csr"], "--key: {ca}/ca.crt: not a PEM private key"),
    (["sign", "--ca", "{ca}", "--csr", "{ca}/ca.crt", "--out", "{tmp}/n.crt"], "--csr: {ca}/ca.crt: not a PEM certificate signing request"),
    (["sign", "--ca", "{ca}", "--csr", "{tmp}/none.csr", "--out", "{tmp}/n.crt"], "--csr: {tmp}/none.csr: no such file"),
    (["check", "{tmp}/none.crt"], "CERT: {tmp}/none.crt: no such file"),
    (["check", "{ca}/ca.key"], "CERT: {ca}/ca.key: no PEM certificate in it"),
    (["check", "{ca}/ca.crt", "--renew-within-days", "-1"], "--renew-within-days: -1: must be"),
])
def test_bad_input_exits_2_naming_the_argument_and_writes_nothing(ca_dir: Path, tmp_path: Path, args: list[str],
                                                                  expected: str) -> None:
    subs = {"ca": str(ca_dir), "tmp": str(tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cert(*[a.format(**subs) for a in args])
    assert result.returncode == 2, result
    assert expected.format(**subs) in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
