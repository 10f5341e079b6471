from __future__ import annotations

import pytest

from novacron.config.model import AgentConfig
from novacron.secrets import SecretsError, SigningKey, load_signing_key

VALUE = "env-provided-signing-key-0123456789abcdef"


def _cfg(var: str = "NOVACRON_TEST_JWT_KEY") -> AgentConfig:
    return AgentConfig.model_validate({"auth": {"secrets_backend": "env", "key_env": var}})


def test_env_backend_reads_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVACRON_TEST_JWT_KEY", VALUE)
    assert load_signing_key(_cfg()) == SigningKey(VALUE)


def test_missing_variable_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOVACRON_TEST_JWT_KEY", raising=False)
    with pytest.raises(SecretsError) as info:
        load_signing_key(_cfg())
    assert info.value.field == "auth.key_env"
    assert "NOVACRON_TEST_JWT_KEY is not set" in info.value.detail


def test_short_variable_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVACRON_TEST_JWT_KEY", "too-short-value")
    with pytest.raises(SecretsError) as info:
        load_signing_key(_cfg())
    assert info.value.field == "auth.key_env"
    assert "NOVACRON_TEST_JWT_KEY" in info.value.detail
    assert "too-short-value" not in str(info.value)


def test_key_moved_from_file_to_env_is_the_same_key(
    monkeypatch: pytest.MonkeyPatch, file_config: AgentConfig
) -> None:
    from_file = load_signing_key(file_config)
    monkeypatch.setenv("NOVACRON_TEST_JWT_KEY", file_config.jwt_key_file().read_text())
    assert load_signing_key(_cfg()) == from_file
