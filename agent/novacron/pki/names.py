"""Node ids and host names as they appear in node certificates.

Why: a node certificate names its node (subject CN and DNS SubjectAltName = node_id), so the
node id must obey exactly the agent's own rule -- taken from the config model, not restated --
and extra hosts must be plain DNS names or IP addresses (no wildcards: one certificate, one node).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from cryptography import x509
from pydantic import ValidationError

from novacron.config.model import SystemConfig
from novacron.pki.errors import PkiError

# A host name in a SubjectAltName: what a node id may look like, up to a full DNS name's length.
_DNS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")


def check_node_id(node_id: str, argument: str = "node_id") -> str:
    """`node_id` if the agent would accept it as `system.node_id`, else a PkiError saying why."""
    try:
        SystemConfig(node_id=node_id)
    except ValidationError as exc:
        raise PkiError(argument, f"{node_id!r} is not a valid node id: {exc.errors()[0]['msg']}") from None
    return node_id


def parse_host(host: str, argument: str = "hosts") -> x509.GeneralName:
    """`DNS:name`, `IP:addr` or a bare name/address as a SubjectAltName entry."""
    upper = host.upper()
    if upper.startswith("DNS:"):
        kind, value = "DNS", host[4:]
    elif upper.startswith("IP:"):
        kind, value = "IP", host[3:]
    else:
        kind, value = "", host
    if kind in ("", "IP"):
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            if kind == "IP":
                raise PkiError(argument, f"{host!r}: not an IP address") from None
    return x509.DNSName(_dns_name(value, host, argument))


def _dns_name(value: str, given: str, argument: str) -> str:
    if not _DNS_NAME.match(value) or value.endswith("."):
        raise PkiError(argument, f"{given!r} is neither an IP address nor a DNS name "
                                 "(letters, digits, '_', '.', '-'; no wildcards)")
    return value


def check_general_name(name: x509.GeneralName, argument: str) -> x509.GeneralName:
    """A SubjectAltName entry a node certificate may carry: a DNS name or an IP address."""
    if isinstance(name, x509.IPAddress):
        return name
    if isinstance(name, x509.DNSName):
        _dns_name(name.value, f"DNS:{name.value}", argument)
        return name
    raise PkiError(argument, f"{name}: only DNS names and IP addresses may name a node")


def san_entries(node_id: str, hosts: Iterable[str | x509.GeneralName], argument: str = "hosts"
                ) -> list[x509.GeneralName]:
    """DNS:<node_id> first, then the hosts, each once."""
    out: list[x509.GeneralName] = [x509.DNSName(node_id)]
    for host in hosts:
        name = check_general_name(host, argument) if isinstance(host, x509.GeneralName) \
            else parse_host(host, argument)
        if name not in out:
            out.append(name)
    return out


def describe(name: x509.GeneralName) -> str:
    """`DNS:name` / `IP:addr`, as openssl and the role's variables write them."""
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    return str(name)
