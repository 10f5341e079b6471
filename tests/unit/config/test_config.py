"""Config model, loader, env overrides, rendering and the CLI's validate/generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from novacron.config import ConfigError, load_config, render_default_config
from novacron.config.loader import env_overrides, parse_config
from novacron.config.model import AgentConfig

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "config" / "examples").glob("*.yaml"))
NOVACRON = str(Path(sys.executable).parent / "novacron")


def test_defaults_match_the_design() -> None:
    cfg = AgentConfig()
    assert cfg.api.port == 8080
    assert cfg.metrics.port == 9091
    assert cfg.hypervisor.uri == "test:///default"
    assert cfg.store_url() == f"sqlite:///{cfg.system.data_dir / 'novacron.db'}"


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ({"dwcp": {"transport": {"max_streams": 513}}}, "dwcp.transport.max_streams", "must be <= 512"),
        ({"dwcp": {"transport": {"min_streams": 3}}}, "dwcp.transport.min_streams", "must be >= 4"),
        ({"dwcp": {"transport": {"min_streams": 64, "max_streams": 8}}}, "dwcp.transport", "min_streams (64) must be <= max_streams (8)"),
        ({"dwcp": {"forced_mode": "lan"}}, "dwcp.forced_mode", "must be one of"),
        ({"dwcp": {"v3_rollout_percentage": 101}}, "dwcp.v3_rollout_percentage", "must be <= 100"),
        ({"dwcp": {"compression": {"level": 23}}}, "dwcp.compression.level", "must be <= 22"),
        ({"dwcp": {"compression": {"algorithm": "gzip"}}}, "dwcp.compression.algorithm", "must be one of"),
        ({"dwcp": {"transport": {"congestion_algo": "reno"}}}, "dwcp.transport.congestion_algo", "must be one of"),
        ({"system": {"max_concurrency": 0}}, "system.max_concurrency", "must be >= 1"),
        ({"system": {"node_id": "bad id"}}, "system.node_id", "must match"),
        ({"store": {"url": "mysql://x"}}, "store.url", "must be empty"),
        ({"api": {"tls_cert": "/a.crt"}}, "api", "tls_cert and tls_key must be set together"),
        ({"typo": 1}, "typo", "unknown field"),
    ],
)
def test_each_bad_field_is_named(doc: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    fields = {e["field"]: e["message"] for e in info.value.errors}
    assert field in fields, fields
    assert message in fields[field]
    assert f"{field}: " in str(info.value)


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"dwcp": {"transport": {"max_streams": 600}, "compression": {"level": -1}}})
    assert {e["field"] for e in info.value.errors} == {"dwcp.transport.max_streams", "dwcp.compression.level"}


def test_env_aliases_and_general_rule() -> None:
    env = {
        "NOVACRON_NODE_ID": "hv-9",
        "NOVACRON_DWCP_MODE": "internet",
        "NOVACRON_LOG_LEVEL": "debug",
        "NOVACRON_DWCP__TRANSPORT__MAX_STREAMS": "128",
        "NOVACRON_API__PORT": "9000",
        "NOVACRON_URL": "http://ignored",
        "HOME": "/root",
    }
    cfg = parse_config({"system": {"node_id": "from-file"}}, env)
    assert cfg.system.node_id == "hv-9"
    assert cfg.dwcp.forced_mode == "internet"
    assert cfg.system.log_level == "DEBUG"
    assert cfg.dwcp.transport.max_streams == 128
    assert cfg.api.port == 9000


def test_env_mode_auto_means_detect() -> None:
    assert parse_config({"dwcp": {"forced_mode": "hybrid"}}, {"NOVACRON_DWCP_MODE": "auto"}).dwcp.forced_mode == ""


def test_bad_env_value_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({}, {"NOVACRON_DWCP__TRANSPORT__MAX_STREAMS": "9999"})
    assert info.value.errors[0]["field"] == "dwcp.transport.max_streams"


def test_env_overrides_ignore_unrelated() -> None:
    assert env_overrides({"NOVACRON_TOKEN": "x", "PATH": "/bin", "NOVACRON_SOMETHING": "1"}) == {}


def test_generated_config_loads_back_unchanged() -> None:
    text = render_default_config()
    assert parse_config(yaml.safe_load(text)) == AgentConfig()
    assert "# " in text and "max_streams" in text


def test_rendered_config_round_trips_non_defaults() -> None:
    from novacron.config.render import render_config

    cfg = parse_config({"system": {"node_id": "x1"}, "dwcp": {"forced_mode": "hybrid"},
                        "peers": [{"node_id": "p", "api_url": "http://p:8080"}]})
    assert parse_config(yaml.safe_load(render_config(cfg))) == cfg


def test_secret_never_rendered() -> None:
    from novacron.config.render import render_config

    cfg = parse_config({"auth": {"secrets_backend": "vault", "vault_token": "s.SUPERSECRET"}})
    assert "SUPERSECRET" not in render_config(cfg)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid(path: Path) -> None:
    cfg = load_config(path, environ={})
    assert cfg.system.node_id


def test_examples_cover_three_modes() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "novacron-datacenter.yaml", "novacron-internet.yaml", "novacron-hybrid.yaml"}


def test_cli_validate_names_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dwcp:\n  transport:\n    max_streams: 1000\n")
    result = subprocess.run([NOVACRON, "config", "validate", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "dwcp.transport.max_streams: must be <= 512" in result.stderr


def test_cli_generate_then_validate(tmp_path: Path) -> None:
    out = subprocess.run([NOVACRON, "config", "generate"], capture_output=True, text=True, check=True).stdout
    path = tmp_path / "gen.yaml"
    path.write_text(out)
    ok = subprocess.run([NOVACRON, "config", "validate", "--no-env", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ={})
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listy, environ={})
