"""The provider's configuration: which agents it talks to and with what credentials.

`check` validates what the user set (stack config or an explicit Provider resource) and keeps it
as written, with the tokens marked secret; `parse` turns it into `ProviderConfig`, falling back
to NOVACRON_ENDPOINT / NOVACRON_TOKEN / NOVACRON_CA_CERT as the schema documents.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pulumi_resource_novacron.names import join
from pulumi_resource_novacron.redact import REDACTOR
from pulumi_resource_novacron.schema import Shapes
from pulumi_resource_novacron.values import Secret, Unknown, has_unknown, mark_secret, reveal, secret_strings

ENV = {"endpoint": "NOVACRON_ENDPOINT", "token": "NOVACRON_TOKEN", "caCert": "NOVACRON_CA_CERT"}
ENGINE_KEYS = {"version", "pluginDownloadURL"}  # the engine adds these to every provider's inputs


@dataclass(frozen=True)
class AgentRef:
    """How to reach one agent. `repr` leaves the token out."""

    endpoint: str
    token: str | None = field(default=None, repr=False)
    ca_cert: str | None = None


@dataclass(frozen=True)
class ProviderConfig:
    default: AgentRef
    peers: tuple[AgentRef, ...] = ()

    @property
    def agents(self) -> tuple[AgentRef, ...]:
        return (self.default, *self.peers)


def _json(v: Any) -> Any:
    """Stack config arrives as strings; structured values are JSON inside them."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def normalize(news: dict[str, Any]) -> dict[str, Any]:
    """Config keys may arrive as `novacron:config:endpoint` (Configure variables) or `endpoint`."""
    out = {}
    for key, v in news.items():
        short = key.rsplit(":", 1)[-1]
        out[short] = Secret(_json(v.value)) if isinstance(v, Secret) else _json(v)
    return out


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str):
        return "must be a string URL"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"must be an http:// or https:// URL with a host (got {url!r})"
    return None


def check(news: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(inputs to keep, failures by property path). Tokens come back marked secret."""
    news = normalize(news)
    failures: dict[str, str] = {}
    known = set(Shapes.provider().props) | ENGINE_KEYS
    for key in news:
        if key not in known:
            failures[key] = f"unknown configuration key; expected one of {', '.join(sorted(Shapes.provider().props))}"
    plain = reveal(news)
    endpoint = plain.get("endpoint") or os.environ.get(ENV["endpoint"])
    if endpoint is None:
        failures["endpoint"] = "required: set `pulumi config set novacron:endpoint https://NODE:8080` or NOVACRON_ENDPOINT"
    elif not isinstance(endpoint, Unknown) and (problem := _url_problem(endpoint)):
        failures["endpoint"] = problem
    if not (plain.get("token") or os.environ.get(ENV["token"])):
        failures["token"] = ("required: `pulumi config set --secret novacron:token $(novacron token create)` "
                             "or NOVACRON_TOKEN")
    peers = plain.get("peers")
    if peers is not None and not isinstance(peers, Unknown):
        if not isinstance(peers, list):
            failures["peers"] = "must be a list of {endpoint, token, caCert} objects"
        else:
            for i, peer in enumerate(peers):
                where = join("peers", i)
                if not isinstance(peer, dict):
                    failures[where] = "must be an object with endpoint (and optional token, caCert)"
                    continue
                extra = set(peer) - {"endpoint", "token", "caCert"}
                if extra:
                    failures[join(where, sorted(extra)[0])] = "unknown key; expected endpoint, token, caCert"
                if not has_unknown(peer.get("endpoint")) and (problem := _url_problem(peer.get("endpoint"))):
                    failures[join(where, "endpoint")] = problem
    REDACTOR.learn(secret_strings(Secret(_tokens(plain))))
    kept = mark_secret(news, {"token"})
    if isinstance(kept.get("peers"), list):
        kept["peers"] = [
            {**p, "token": Secret(p["token"])} if isinstance(p, dict) and isinstance(p.get("token"), str) else p
            for p in kept["peers"]
        ]
    return kept, failures


def _tokens(plain: dict[str, Any]) -> list[str]:
    tokens = [plain.get("token"), os.environ.get(ENV["token"])]
    for peer in plain.get("peers") or []:
        if isinstance(peer, dict):
            tokens.append(peer.get("token"))
    return [t for t in tokens if isinstance(t, str)]


def parse(args: dict[str, Any]) -> ProviderConfig:
    """Configuration the provider runs with (call after `check` passed)."""
    plain = reveal(normalize(args))
    REDACTOR.learn(_tokens(plain))

    def pick(key: str) -> str | None:
        v = plain.get(key)
        return v if isinstance(v, str) and v else os.environ.get(ENV[key]) or None

    endpoint = pick("endpoint") or ""
    token, ca_cert = pick("token"), pick("caCert")
    peers = tuple(
        AgentRef(p["endpoint"], p.get("token") or token, p.get("caCert") or ca_cert)
        for p in plain.get("peers") or [] if isinstance(p, dict) and isinstance(p.get("endpoint"), str)
    )
    return ProviderConfig(AgentRef(endpoint, token, ca_cert), peers)


def diff(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Changed keys. A config change never replaces resources: agents are reached differently,
    the VMs stay the same."""
    a, b = reveal(normalize(olds)), reveal(normalize(news))
    return sorted(k for k in set(a) | set(b) if k not in ENGINE_KEYS and a.get(k) != b.get(k))
