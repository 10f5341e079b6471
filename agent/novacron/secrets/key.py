"""The signing key as a value that cannot be printed by accident.

The key travels as text (URL-safe base64 of random bytes when we generate it) so that one value
works the same in a file, an environment variable and a Vault field; the HMAC key is that text's
UTF-8 bytes. A key copied from `jwt.key` into `NOVACRON_JWT_KEY` therefore verifies the same tokens.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_KEY_BYTES = 32
# 48 random bytes -> 64 base64url characters: 384 bits of entropy, comfortably above the minimum.
_GENERATED_RANDOM_BYTES = 48


def generate_key_text() -> str:
    """A fresh key in the text form every backend stores (from `secrets.token_bytes`)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_GENERATED_RANDOM_BYTES)).decode("ascii")


class SigningKey:
    """HMAC key bytes with a redacting repr/str; compare with `==` (constant time)."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes | str) -> None:
        raw = material.encode("utf-8") if isinstance(material, str) else bytes(material)
        if len(raw) < MIN_KEY_BYTES:
            # The message states the length rule only, never the value.
            raise ValueError(f"signing key is {len(raw)} bytes; at least {MIN_KEY_BYTES} are required")
        self._material = raw

    @property
    def material(self) -> bytes:
        """The raw key bytes: hand them to the HMAC and nowhere else."""
        return self._material

    @property
    def fingerprint(self) -> str:
        """First 8 hex chars of SHA-256 of the key: enough to tell keys apart in logs, useless to forge."""
        return hashlib.sha256(self._material).hexdigest()[:8]

    def secret_forms(self) -> list[str]:
        """The textual shapes this key could take in output, for the log redaction filter."""
        forms = [self._material.hex(), base64.b64encode(self._material).decode("ascii")]
        forms.append(base64.urlsafe_b64encode(self._material).decode("ascii"))
        with contextlib.suppress(UnicodeDecodeError):
            forms.insert(0, self._material.decode("utf-8"))
        return forms

    def __repr__(self) -> str:
        return f"SigningKey(<redacted>, sha256:{self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(("SigningKey", self.fingerprint))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the key into caches or multiprocessing queues unnoticed.
        raise TypeError("SigningKey cannot be pickled")
