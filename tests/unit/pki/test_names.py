"""Node ids follow the agent's own rule (SystemConfig.node_id); hosts are DNS names or IPs."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from pydantic import ValidationError

from novacron.config.model import SystemConfig
from novacron.pki.errors import PkiError
from novacron.pki.names import check_node_id, describe, parse_host, san_entries

SAMPLES = ["hv01", "a", "A.b_c-d", "9x", "a" * 63, "a" * 64, "", "-x", ".x", "_x", "a b", "a/b", "hv01!", "é"]


@pytest.mark.parametrize("node_id", SAMPLES)
def test_same_verdict_as_the_agent_config(node_id: str) -> None:
    try:
        SystemConfig(node_id=node_id)
        config_ok = True
    except ValidationError:
        config_ok = False
    try:
        check_node_id(node_id)
        pki_ok = True
    except PkiError as exc:
        assert exc.argument == "node_id" and "not a valid node id" in exc.message
        pki_ok = False
    assert pki_ok == config_ok


@pytest.mark.parametrize(("host", "expected"), [
    ("10.0.0.1", x509.IPAddress(ipaddress.ip_address("10.0.0.1"))),
    ("IP:fd00::1", x509.IPAddress(ipaddress.ip_address("fd00::1"))),
    ("ip:127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
    ("hv01.example.com", x509.DNSName("hv01.example.com")),
    ("DNS:localhost", x509.DNSName("localhost")),
    ("DNS:10.0.0.1", x509.DNSName("10.0.0.1")),  # asked for as a name: kept as a name
])
def test_parse_host(host: str, expected: x509.GeneralName) -> None:
    assert parse_host(host) == expected


@pytest.mark.parametrize("host", ["", "a b", "*.example.com", "IP:hv01", "DNS:", "host.", "x:y", "a" * 254])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(PkiError) as err:
        parse_host(host)
    assert err.value.argument == "hosts"


def test_san_entries_put_the_node_first_once() -> None:
    entries = san_entries("hv01", ["localhost", "DNS:hv01", "127.0.0.1", "localhost"])
    assert [describe(e) for e in entries] == ["DNS:hv01", "DNS:localhost", "IP:127.0.0.1"]
