"""File backend: the key lives in `auth.key_file` (default data_dir/jwt.key), mode 0600.

Policy, like OpenSSH with private keys: a key file that group or others can read or write is
*refused*, not just warned about. A warning scrolls by; a refusal gets fixed (`chmod 600`), and a
key others could read would let them mint tokens for this agent.

Creation is atomic and never clobbers: the key is written to a temporary file in the same directory
and then hard-linked into place, which fails if another process got there first (rename would
silently replace its key). In that case we read and use the winner's key.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from novacron.secrets.errors import SecretsError
from novacron.secrets.key import MIN_KEY_BYTES, SigningKey, generate_key_text

FIELD = "auth.key_file"
# A key file is one short line; anything bigger is not a key file.
_MAX_KEY_FILE_BYTES = 64 * 1024


def load_key_file(path: Path, *, create: bool = True) -> SigningKey:
    """Read the key at `path`; if it does not exist and `create`, generate and store a new one."""
    try:
        return _read(path)
    except FileNotFoundError:
        if not create:
            raise SecretsError(f"key file {path} does not exist (and creating it was not allowed)", field=FIELD) from None
    _create(path)
    return _read(path)


def _read(path: Path) -> SigningKey:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # a FIFO must not hang startup
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretsError(f"cannot open key file {path}: {exc.strerror}", field=FIELD) from None
    # fstat on the open descriptor: the file we check is the file we read.
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SecretsError(f"key file {path} is not a regular file", field=FIELD)
    with os.fdopen(fd, "rb") as fh:
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise SecretsError(
                f"key file {path} has mode {mode:04o}; a signing key must not be accessible by group or "
                f"others (run: chmod 600 {path})",
                field=FIELD,
            )
        data = fh.read(_MAX_KEY_FILE_BYTES + 1)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise SecretsError(f"key file {path} is larger than {_MAX_KEY_FILE_BYTES} bytes", field=FIELD)
    # Trailing newline/whitespace is what editors and `echo` add; it is not part of the key.
    material = data.rstrip(b"\r\n\t ")
    if len(material) < MIN_KEY_BYTES:
        raise SecretsError(
            f"key file {path} holds {len(material)} bytes; a signing key needs at least {MIN_KEY_BYTES}",
            field=FIELD,
        )
    return SigningKey(material)


def _create(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise SecretsError(f"cannot create key directory {parent}: {exc.strerror}", field=FIELD) from None
    tmp = parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SecretsError(f"cannot write key file in {parent}: {exc.strerror}", field=FIELD) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # O_CREAT's mode is filtered by the umask too
            fh.write(generate_key_text().encode("ascii") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it meanwhile: its key wins, ours is discarded
        except OSError as exc:
            raise SecretsError(f"cannot create key file {path}: {exc.strerror}", field=FIELD) from None
        _fsync_dir(parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable, so a crash cannot lose a key tokens were signed with."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
