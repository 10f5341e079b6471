"""Keep secrets out of logs: a logging.Filter that blanks known secret values and token shapes.

Installed through the log-record factory rather than on one logger, because filters on a logger do
not see records propagated from its children, and handler filters miss handlers added later
(uvicorn adds its own). Every record is redacted when it is created, with its arguments merged into
the message and any traceback rendered, so no formatter can re-insert a secret from `record.args`
or `exc_info`. `extra=` attributes are attached after the factory runs, so the filter is also put
on the root logger's handlers (or the ones given), where it sees them at emit time.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable

from novacron.secrets.key import SigningKey

REDACTED = "<redacted>"
# A JWS compact token: base64url('{"...') is always "eyJ"; the signature part may be empty (alg none).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]+")
# Shorter values would blank ordinary words; real secrets here are 32+ characters.
_MIN_SECRET_CHARS = 8
# Attributes every LogRecord has; anything else came from `extra=` and may hold a secret too.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

SecretValue = str | bytes | SigningKey


class RedactionFilter(logging.Filter):
    """Replaces registered secret values, JWTs and `Bearer <token>` in a record with `<redacted>`."""

    def __init__(self, secret_values: Iterable[SecretValue] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secret_values)

    def add(self, secret_values: Iterable[SecretValue]) -> None:
        """Register more secrets (all their textual forms); safe to call while logging."""
        with self._lock:
            for value in secret_values:
                self._values.update(v for v in _forms(value) if len(v) >= _MIN_SECRET_CHARS)
            # Longest first, so a secret containing another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _JWT.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: keep the template, drop the arguments that might hold secrets
            message = f"{record.msg} [arguments dropped]"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # exc_info stays for handlers that need the type; formatters use exc_text when it is set.
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, self.redact(value))
        return True


def _forms(value: SecretValue) -> list[str]:
    if isinstance(value, SigningKey):
        return value.secret_forms()
    if isinstance(value, bytes):
        forms = [value.hex()]
        with contextlib.suppress(UnicodeDecodeError):
            forms.append(value.decode("utf-8"))
        return forms
    return [value]


_installed: RedactionFilter | None = None
_previous_factory: Callable[..., logging.LogRecord] | None = None
_install_lock = threading.Lock()
_attached: weakref.WeakSet[logging.Handler] = weakref.WeakSet()


def install_redaction(
    secret_values: Iterable[SecretValue] = (), *, handlers: Iterable[logging.Handler] | None = None
) -> RedactionFilter:
    """Redact `secret_values` (plus any JWT / Bearer token) from every log record in this process.

    Idempotent: a second call adds its values to the filter already installed and returns it.
    `handlers` (default: the root logger's) also get the filter, to cover `extra=` attributes.
    """
    global _installed, _previous_factory
    with _install_lock:
        targets = list(logging.getLogger().handlers if handlers is None else handlers)
        if _installed is not None:
            _installed.add(secret_values)
            _attach(_installed, targets)
            return _installed
        flt = RedactionFilter(secret_values)
        _attach(flt, targets)
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            flt.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed, _previous_factory = flt, previous
        return flt


def uninstall_redaction() -> None:
    """Restore the previous record factory and detach the filter from handlers (for tests)."""
    global _installed, _previous_factory
    with _install_lock:
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
        if _installed is not None:
            for handler in list(_attached):
                handler.removeFilter(_installed)
        _attached.clear()
        _installed = _previous_factory = None


def _attach(flt: RedactionFilter, handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        if flt not in handler.filters:
            handler.addFilter(flt)
            _attached.add(handler)
