from __future__ import annotations

import hashlib
import pickle

import pytest

from novacron.secrets import MIN_KEY_BYTES, SigningKey, generate_key_text

KEY_TEXT = "k3y-material-that-must-never-be-printed-0123456789"


def test_repr_and_str_hide_the_key_but_show_a_fingerprint() -> None:
    key = SigningKey(KEY_TEXT)
    fp = hashlib.sha256(KEY_TEXT.encode()).hexdigest()[:8]
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert KEY_TEXT not in text
        assert KEY_TEXT.encode().hex() not in text
        assert f"sha256:{fp}" in text
        assert "<redacted>" in text


def test_equality_is_by_material() -> None:
    assert SigningKey(KEY_TEXT) == SigningKey(KEY_TEXT.encode())
    assert SigningKey(KEY_TEXT) != SigningKey(KEY_TEXT + "x")
    assert len({SigningKey(KEY_TEXT), SigningKey(KEY_TEXT)}) == 1


def test_short_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_KEY_BYTES}") as info:
        SigningKey("short-secret-value")
    assert "short-secret-value" not in str(info.value)


def test_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SigningKey(KEY_TEXT))


def test_generated_keys_are_long_and_distinct() -> None:
    keys = {generate_key_text() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(k.encode()) >= MIN_KEY_BYTES for k in keys)
