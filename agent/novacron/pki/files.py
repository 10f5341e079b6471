"""Reading PEM input and writing key/certificate files atomically, with exact modes.

Why atomic: a crash or a full disk must never leave a half-written key or certificate where the
agent (or the Ansible role's `creates:`) would take it for a good one. Why explicit modes: a key
is 0600 and a certificate 0644 whatever the caller's umask. Why several files at once: a key and
its certificate are only useful together, so both are fully written before either appears.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from novacron.pki.errors import PkiError

KEY_MODE = 0o600
CERT_MODE = 0o644
STDIO = "-"


def read_input(source: str | Path, argument: str) -> bytes:
    """The bytes of a file, or of standard input for `-`."""
    if str(source) == STDIO:
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(argument, f"{path}: no such file") from None
    except IsADirectoryError:
        raise PkiError(argument, f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise PkiError(argument, f"{path}: permission denied") from None
    except OSError as exc:
        raise PkiError(argument, f"{path}: cannot read ({exc.strerror})") from None


def write_files(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Write every (path, data, mode) to a temporary file beside it, then rename them all.

    The directory of each path must exist. On any error the temporary files are removed and no
    destination has changed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data, mode in files:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), mode)  # exact, whatever the umask
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def ensure_directory(directory: Path, argument: str) -> Path:
    """`directory`, created (0700, parents too) if missing; an error if it is something else."""
    if directory.exists() and not directory.is_dir():
        raise PkiError(argument, f"{directory}: exists and is not a directory")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise PkiError(argument, f"{directory}: cannot create ({exc.strerror})") from None
    return directory


def parent_directory(path: Path, argument: str) -> Path:
    """The existing directory a file is to be written in."""
    parent = path.parent
    if not parent.is_dir():
        raise PkiError(argument, f"{path}: directory {parent} does not exist")
    if path.is_dir():
        raise PkiError(argument, f"{path}: is a directory, not a file")
    return parent


def load_certificates(data: bytes, argument: str, source: str) -> list[x509.Certificate]:
    """Every PEM certificate in `data`, in order (a full chain starts with its leaf)."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise PkiError(argument, f"{source}: no PEM certificate in it")
    return certs


def load_certificate(source: str | Path, argument: str) -> x509.Certificate:
    """The first certificate of a PEM file (the leaf of a full chain)."""
    return load_certificates(read_input(source, argument), argument, str(source))[0]


def load_private_key(source: str | Path, argument: str) -> ec.EllipticCurvePrivateKey:
    """An unencrypted PEM EC P-256 private key (the only kind the cluster uses)."""
    data = read_input(source, argument)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(argument, f"{source}: the key is encrypted; give an unencrypted key") from None
    except ValueError:
        raise PkiError(argument, f"{source}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(argument, f"{source}: not an EC P-256 private key")
    return key


def load_csr(source: str | Path, argument: str) -> x509.CertificateSigningRequest:
    """A PEM certificate signing request (`-`: standard input)."""
    data = read_input(source, argument)
    try:
        return x509.load_pem_x509_csr(data)
    except ValueError:
        name = "standard input" if str(source) == STDIO else str(source)
        raise PkiError(argument, f"{name}: not a PEM certificate signing request") from None


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
