from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from novacron.auth import RedactionFilter, install_redaction, mint_token, uninstall_redaction
from novacron.secrets import SigningKey

KEY_TEXT = "redaction-test-signing-key-0123456789abcdef"
KEY = SigningKey(KEY_TEXT)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    """A logger writing formatted records into a buffer; redaction uninstalled afterwards."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(detail)s"))
    logger = logging.getLogger("novacron.test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler, buf
    finally:
        logger.removeHandler(handler)
        uninstall_redaction()


def test_filter_redacts_a_formatted_record() -> None:
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="novacron", now=1_700_000_000)
    flt = RedactionFilter([KEY])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key=%s token=%s hdr=%s",
                               (KEY_TEXT, token, "Authorization: Bearer opaque-token-123"), None)
    assert flt.filter(record) is True
    text = logging.Formatter("%(message)s").format(record)
    assert KEY_TEXT not in text
    assert token not in text
    assert "opaque-token-123" not in text
    assert text == "key=<redacted> token=<redacted> hdr=Authorization: Bearer <redacted>"


def test_other_text_forms_of_the_key_are_redacted() -> None:
    raw = b"\x00\x01raw-bytes-secret"
    flt = RedactionFilter([KEY, raw])
    out = flt.redact(f"hex {KEY.material.hex()} bytes {raw.hex()}")
    assert out == "hex <redacted> bytes <redacted>"


def test_short_values_are_not_registered() -> None:
    flt = RedactionFilter(["", "a", "abc"])
    assert flt.redact("a abc banana") == "a abc banana"


def test_installed_redaction_covers_args_exceptions_and_extra(
    captured: tuple[logging.Logger, logging.Handler, io.StringIO],
) -> None:
    logger, handler, buf = captured
    token = mint_token(KEY, subject="a", ttl_s=60, issuer="novacron", now=1_700_000_000)
    install_redaction([KEY], handlers=[handler])
    logger.info("loaded %r from %s", KEY_TEXT, "file", extra={"detail": f"tok={token}"})
    try:
        raise RuntimeError(f"boom with {KEY_TEXT}")
    except RuntimeError:
        logger.exception("failed", extra={"detail": "-"})
    text = buf.getvalue()
    assert KEY_TEXT not in text
    assert token not in text
    assert "loaded '<redacted>' from file tok=<redacted>" in text
    assert "RuntimeError: boom with <redacted>" in text


def test_install_is_idempotent_and_accumulates(captured: tuple[logging.Logger, logging.Handler, io.StringIO]) -> None:
    logger, _, buf = captured
    first = install_redaction(["first-secret-value-123"])
    second = install_redaction(["second-secret-value-456"])
    assert first is second
    logger.warning("%s %s", "first-secret-value-123", "second-secret-value-456", extra={"detail": ""})
    assert buf.getvalue().strip() == "WARNING novacron.test.redact <redacted> <redacted>"


def test_uninstall_restores_plain_records(captured: tuple[logging.Logger, logging.Handler, io.StringIO]) -> None:
    logger, _, buf = captured
    install_redaction(["plain-secret-value-789"])
    uninstall_redaction()
    logger.info("%s", "plain-secret-value-789", extra={"detail": ""})
    assert "plain-secret-value-789" in buf.getvalue()
