from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from novacron.config.model import AgentConfig
from novacron.secrets import MIN_KEY_BYTES, SecretsError, SigningKey, load_signing_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_load_creates_key_0600_in_new_0700_dir(file_config: AgentConfig) -> None:
    path = file_config.jwt_key_file()
    assert not path.parent.exists()
    key = load_signing_key(file_config)
    assert path.is_file()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert len(key.material) >= MIN_KEY_BYTES
    assert path.read_bytes().rstrip(b"\n") == key.material
    assert [p.name for p in path.parent.iterdir()] == ["jwt.key"]  # no temp file left behind


def test_second_load_returns_same_key_and_does_not_rewrite(file_config: AgentConfig) -> None:
    first = load_signing_key(file_config)
    path = file_config.jwt_key_file()
    before = path.stat()
    second = load_signing_key(file_config, create=True)
    after = path.stat()
    assert second == first
    assert (after.st_mtime_ns, after.st_ino, after.st_size) == (before.st_mtime_ns, before.st_ino, before.st_size)


def test_key_file_setting_overrides_data_dir(tmp_path: Path) -> None:
    cfg = AgentConfig.model_validate(
        {"system": {"data_dir": str(tmp_path / "data")}, "auth": {"key_file": str(tmp_path / "keys" / "k")}}
    )
    load_signing_key(cfg)
    assert (tmp_path / "keys" / "k").is_file()
    assert not (tmp_path / "data" / "jwt.key").exists()


def test_missing_file_without_create_names_the_field(file_config: AgentConfig) -> None:
    with pytest.raises(SecretsError) as info:
        load_signing_key(file_config, create=False)
    assert info.value.field == "auth.key_file"
    assert "does not exist" in info.value.detail
    assert not file_config.jwt_key_file().exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_key_file_accessible_by_others_is_refused(file_config: AgentConfig, mode: int) -> None:
    key = load_signing_key(file_config)
    path = file_config.jwt_key_file()
    os.chmod(path, mode)
    with pytest.raises(SecretsError) as info:
        load_signing_key(file_config)
    assert info.value.field == "auth.key_file"
    assert f"chmod 600 {path}" in info.value.detail
    assert key.material.decode() not in str(info.value)
    assert _mode(path) == mode  # refused, not silently "fixed" or rewritten


def test_user_supplied_key_with_newline_is_used_as_is(file_config: AgentConfig) -> None:
    path = file_config.jwt_key_file()
    path.parent.mkdir(parents=True)
    text = "ab" * 32
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    assert load_signing_key(file_config) == SigningKey(text)


def test_short_key_file_is_refused_without_showing_it(file_config: AgentConfig) -> None:
    path = file_config.jwt_key_file()
    path.parent.mkdir(parents=True)
    path.write_text("tiny-secret\n")
    os.chmod(path, 0o600)
    with pytest.raises(SecretsError) as info:
        load_signing_key(file_config)
    assert info.value.field == "auth.key_file"
    assert "needs at least 32" in info.value.detail
    assert "tiny-secret" not in str(info.value)


def test_directory_in_place_of_key_file_is_refused(file_config: AgentConfig) -> None:
    file_config.jwt_key_file().mkdir(parents=True, mode=0o700)
    with pytest.raises(SecretsError) as info:
        load_signing_key(file_config)
    assert info.value.field == "auth.key_file"


def test_concurrent_first_loads_agree_on_one_key(file_config: AgentConfig) -> None:
    results: list[SigningKey] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        results.append(load_signing_key(file_config))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert SigningKey(file_config.jwt_key_file().read_bytes().rstrip(b"\n")) == results[0]
    assert [p.name for p in file_config.jwt_key_file().parent.iterdir()] == ["jwt.key"]
