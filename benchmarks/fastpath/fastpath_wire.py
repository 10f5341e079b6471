"""Sans-I/O codec of the fast path's session header and the destination's one-message reply.

Bytes in, values out (no sockets, no clocks): the I/O adapters read exactly `header_missing()` /
`reply_missing()` more bytes until they return 0, then parse. Reading exactly the header (never
past it) is WHY the lengths come first: everything after it belongs to QEMU and is spliced
untouched. See fastpath.py for the layouts and the security model.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass

from novacron_sdk.errors import InvalidInput

MAGIC = b"NCFP"
REPLY_MAGIC = b"NCFA"
VERSION = 1
PREFIX = struct.Struct(">4sBBH")  # magic, version, flags, body length
REPLY_PREFIX = struct.Struct(">4sBH")  # magic, status, reason length
TOKEN_LEN = 32
MAX_MIGRATION_ID = 255
MAX_CHANNEL = 1023  # QEMU multifd allows 255 channels; leave room, refuse nonsense
MIN_SECRET = 16
MIN_BODY = 1 + 1 + 2 + TOKEN_LEN
MAX_BODY = 1 + MAX_MIGRATION_ID + 2 + TOKEN_LEN
MAX_REASON = 1024
STATUS_OK, STATUS_REFUSED = 0, 1
_CONTEXT = b"novacron-fastpath-v1\0"


class FastpathHeaderError(ValueError):
    """The peer's first bytes are not a valid fast-path header (or reply); names the bad field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"fast-path header field {field!r}: {problem}")
        self.field = field
        self.problem = problem


def new_secret() -> bytes:
    """A per-migration secret, to be handed to both agents over the authenticated agent API."""
    return secrets.token_bytes(32)


def make_token(secret: bytes, migration_id: str, channel: int) -> bytes:
    """HMAC-SHA256 over (migration id, channel): a token is valid for one QEMU connection only."""
    if len(secret) < MIN_SECRET:
        raise InvalidInput(f"must be at least {MIN_SECRET} bytes, got {len(secret)}", field="secret")
    mid = _check_ids(migration_id, channel)
    msg = _CONTEXT + bytes([len(mid)]) + mid + channel.to_bytes(2, "big")
    return hmac.new(secret, msg, hashlib.sha256).digest()


def _check_ids(migration_id: str, channel: int) -> bytes:
    mid = migration_id.encode() if isinstance(migration_id, str) else b""
    if not 1 <= len(mid) <= MAX_MIGRATION_ID:
        raise InvalidInput(f"must be 1..{MAX_MIGRATION_ID} UTF-8 bytes", field="migration_id")
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= MAX_CHANNEL:
        raise InvalidInput(f"must be an integer 0..{MAX_CHANNEL}, not {channel!r}", field="channel")
    return mid


@dataclass(frozen=True)
class FastpathHeader:
    """Which migration and which QEMU connection (0 = main channel, 1..N = multifd) a peer
    connection carries, and the token proving the sender knows that migration's secret."""

    migration_id: str
    channel: int
    token: bytes

    def __post_init__(self) -> None:
        _check_ids(self.migration_id, self.channel)
        if len(self.token) != TOKEN_LEN:
            raise InvalidInput(f"must be {TOKEN_LEN} bytes, got {len(self.token)}", field="token")

    @classmethod
    def signed(cls, migration_id: str, channel: int, secret: bytes) -> FastpathHeader:
        return cls(migration_id, channel, make_token(secret, migration_id, channel))

    def verify(self, secret: bytes) -> bool:
        """Constant-time check of the token against the migration's secret."""
        try:
            expected = make_token(secret, self.migration_id, self.channel)
        except InvalidInput:
            return False
        return hmac.compare_digest(expected, self.token)

    def encode(self) -> bytes:
        mid = self.migration_id.encode()
        body = bytes([len(mid)]) + mid + self.channel.to_bytes(2, "big") + self.token
        return PREFIX.pack(MAGIC, VERSION, 0, len(body)) + body


def header_missing(buf: bytes) -> int:
    """How many more bytes the header at the start of `buf` needs (0: complete). Raises
    FastpathHeaderError as soon as the bytes seen so far cannot be a valid header."""
    got = buf[: len(MAGIC)]
    if got != MAGIC[: len(got)]:
        raise FastpathHeaderError("magic", f"expected {MAGIC!r}, got {bytes(got)!r} (not a fast-path peer)")
    if len(buf) < PREFIX.size:
        return PREFIX.size - len(buf)
    _, version, flags, length = PREFIX.unpack_from(buf)
    if version != VERSION:
        raise FastpathHeaderError("version", f"unsupported version {version} (this agent speaks {VERSION})")
    if flags:
        raise FastpathHeaderError("flags", f"reserved bits set ({flags:#04x})")
    if not MIN_BODY <= length <= MAX_BODY:
        raise FastpathHeaderError("length", f"body of {length} bytes, must be {MIN_BODY}..{MAX_BODY}")
    return max(0, PREFIX.size + length - len(buf))


def parse_header(buf: bytes) -> tuple[FastpathHeader, int]:
    """The header at the start of `buf` and its size in bytes; `buf` must hold all of it."""
    if header_missing(buf):
        raise FastpathHeaderError("length", f"truncated: {len(buf)} bytes is not the whole header")
    length = PREFIX.unpack_from(buf)[3]
    body = bytes(buf[PREFIX.size : PREFIX.size + length])
    n = body[0]
    if n == 0:
        raise FastpathHeaderError("migration_id", "empty")
    if 1 + n + 2 + TOKEN_LEN != length:
        raise FastpathHeaderError("length", f"body of {length} bytes does not fit a {n}-byte migration id")
    try:
        migration_id = body[1 : 1 + n].decode()
    except UnicodeDecodeError:
        raise FastpathHeaderError("migration_id", "not valid UTF-8") from None
    channel = int.from_bytes(body[1 + n : 3 + n], "big")
    if channel > MAX_CHANNEL:
        raise FastpathHeaderError("channel", f"{channel} is over {MAX_CHANNEL}")
    return FastpathHeader(migration_id, channel, body[3 + n :]), PREFIX.size + length


def encode_reply(refusal: str | None = None) -> bytes:
    """The destination's answer to a header: accepted (None) or refused with a reason."""
    if refusal is None:
        return REPLY_PREFIX.pack(REPLY_MAGIC, STATUS_OK, 0)
    reason = refusal.encode()[:MAX_REASON] or b"refused"
    return REPLY_PREFIX.pack(REPLY_MAGIC, STATUS_REFUSED, len(reason)) + reason


def reply_missing(buf: bytes) -> int:
    got = buf[: len(REPLY_MAGIC)]
    if got != REPLY_MAGIC[: len(got)]:
        raise FastpathHeaderError("reply.magic", f"expected {REPLY_MAGIC!r}, got {bytes(got)!r}")
    if len(buf) < REPLY_PREFIX.size:
        return REPLY_PREFIX.size - len(buf)
    _, status, length = REPLY_PREFIX.unpack_from(buf)
    if status not in (STATUS_OK, STATUS_REFUSED):
        raise FastpathHeaderError("reply.status", f"unknown status {status}")
    if length > MAX_REASON or (status == STATUS_OK and length):
        raise FastpathHeaderError("reply.length", f"reason of {length} bytes with status {status}")
    return max(0, REPLY_PREFIX.size + length - len(buf))


def parse_reply(buf: bytes) -> str | None:
    """None when the destination accepted, else its reason for refusing."""
    if reply_missing(buf):
        raise FastpathHeaderError("reply.length", "truncated reply")
    _, status, length = REPLY_PREFIX.unpack_from(buf)
    if status == STATUS_OK:
        return None
    return bytes(buf[REPLY_PREFIX.size : REPLY_PREFIX.size + length]).decode(errors="replace")
