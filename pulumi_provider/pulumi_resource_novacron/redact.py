"""Keep secrets out of every message the provider writes: logs, errors, engine diagnostics.

The provider registers each secret it learns (the token, every value the user marked secret) and
every outgoing text passes through `REDACTOR.redact`. A logging filter applies it to stderr too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

MASK = "[secret]"
_MIN_LEN = 4  # shorter strings would mask ordinary words


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def learn(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if isinstance(s, str) and len(s) >= _MIN_LEN)

    def redact(self, text: str) -> str:
        with self._lock:
            known = sorted(self._secrets, key=len, reverse=True)
        for secret in known:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = REDACTOR.redact(record.getMessage())
        record.args = None
        return True
