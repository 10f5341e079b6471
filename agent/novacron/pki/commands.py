"""What each `novacron cert` command does (the parser is in cli.py).

Why apart from the parser: `novacron` builds its whole parser for every command it runs, and
these need cryptography and the config model, which only `novacron cert ...` should pay for.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from novacron.pki import authority, expiry, node_cert
from novacron.pki.errors import PkiError
from novacron.pki.files import (
    CERT_MODE,
    KEY_MODE,
    STDIO,
    ensure_directory,
    key_pem,
    load_certificate,
    load_certificates,
    load_csr,
    parent_directory,
    read_input,
    write_files,
)
from novacron.pki.names import describe


def cmd_ca(args: argparse.Namespace) -> int:
    out = Path(args.out)
    authority.create_ca(out, days=args.days, name=args.name, force=args.force)
    print(f"cluster CA {args.name!r}: {out / authority.CA_CERT} (0644), {out / authority.CA_KEY} (0600)")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    ca = authority.load_ca(Path(args.ca))
    key, cert = node_cert.issue_node(ca, args.node_id, args.hosts, args.days)
    out = Path(args.out)
    existing = [str(p) for p in node_cert.node_paths(out, args.node_id) if p.exists()]
    if existing and not args.force:
        raise PkiError("out", f"{', '.join(existing)} already exist(s) (--force to replace)")
    ensure_directory(out, "out")
    crt_path, key_path = node_cert.write_node(out, args.node_id, key, cert, ca)
    print(f"node {args.node_id}: {crt_path} (certificate + CA), {key_path} (0600), "
          f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    key_path = Path(args.key)
    if args.out != STDIO:
        parent_directory(Path(args.out), "out")
    key, created = node_cert.load_or_create_key(key_path)
    csr = node_cert.build_csr(key, args.node_id, args.hosts)
    pem = csr.public_bytes(serialization.Encoding.PEM)
    files = [(key_path, key_pem(key), KEY_MODE)] if created else []
    if args.out != STDIO:
        files.append((Path(args.out), pem, CERT_MODE))
    write_files(files)
    if args.out == STDIO:
        sys.stdout.write(pem.decode())
    else:
        print(f"request for {args.node_id}: {args.out} (key {key_path}{', new' if created else ''})")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    ca = authority.load_ca(Path(args.ca))
    if args.out != STDIO:
        parent_directory(Path(args.out), "out")
    cert = node_cert.sign_csr(ca, load_csr(args.csr, "csr"), args.days)
    chain = node_cert.chain_pem(cert, ca)
    if args.out == STDIO:
        sys.stdout.write(chain.decode())
    else:
        write_files([(Path(args.out), chain, CERT_MODE)])
        print(f"signed {node_cert.node_id_of(cert.subject, 'csr')}: {args.out}, "
              f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cert = load_certificate(args.cert, "cert")
    ca_cert = None
    if args.ca:
        ca = Path(args.ca)
        ca_cert = load_certificate(ca / authority.CA_CERT if ca.is_dir() else ca, "ca")
    result = expiry.renewal_due(cert, args.within_days, ca_cert)
    print(f"{args.cert}: {'renew' if result.due else 'ok'}: {result.reason}")
    return 1 if result.due else 0


def describe_cert(certs: list[x509.Certificate]) -> dict[str, Any]:
    """What `show` prints: the first certificate of a file (its leaf) and the chain's length."""
    cert = certs[0]
    try:
        node_id: str | None = node_cert.node_id_of(cert.subject, "cert")
    except PkiError:
        node_id = None
    try:
        sans = [describe(n) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        sans = []
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "node_id": node_id,
        "subject": cert.subject.rfc4514_string(),
        "sans": sans,
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
        "is_ca": authority.is_ca(cert),
        "public_key_sha256": hashlib.sha256(spki).hexdigest(),
        "chain_length": len(certs),
    }


def cmd_show(args: argparse.Namespace) -> int:
    info = describe_cert(load_certificates(read_input(args.cert, "cert"), "cert", args.cert))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for label, key in (("node id", "node_id"), ("subject", "subject"), ("issuer", "issuer"),
                       ("not before", "not_before"), ("not after", "not_after"), ("serial", "serial")):
        print(f"{label + ':':<12}{info[key]}")
    print(f"{'SANs:':<12}{', '.join(info['sans']) or '-'}")
    print(f"{'chain:':<12}{info['chain_length']} certificate(s){', CA' if info['is_ca'] else ''}")
    return 0
