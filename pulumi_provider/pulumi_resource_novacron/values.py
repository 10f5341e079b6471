"""Property values as the engine sends them: a protobuf Struct with in-band markers.

The engine marks a secret as `{SIG: SECRET_SIG, "value": v}` and a value not known during preview
as the string `UNKNOWN`. Decoding keeps both as Python objects (`Secret`, `Unknown`) so a handler
can validate around unknowns and hand secrets back still wrapped: nothing marked secret by the
user ever leaves the provider in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Secret:
    value: Any

    def __repr__(self) -> str:  # a stray log line shows the marker, never the value
        return "Secret(***)"


class Unknown:
    """A value computed later (preview); there is one instance, `UNKNOWN_VALUE`."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN_VALUE = Unknown()


def decode(struct: struct_pb2.Struct | None) -> dict[str, Any]:
    if struct is None:
        return {}
    raw = json_format.MessageToDict(struct)
    return {k: _decode(v) for k, v in raw.items()}


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        if v.get(SIG) == SECRET_SIG:
            return Secret(_decode(v.get("value")))
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if v == UNKNOWN:
        return UNKNOWN_VALUE
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def encode(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update({k: _encode(v) for k, v in values.items() if v is not None})
    return struct


def _encode(v: Any) -> Any:
    if isinstance(v, Secret):
        return {SIG: SECRET_SIG, "value": _encode(v.value)}
    if isinstance(v, Unknown):
        return UNKNOWN
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items() if x is not None}
    if isinstance(v, list | tuple):
        return [_encode(x) for x in v]
    return v


def reveal(v: Any) -> Any:
    """The plain value, secrets unwrapped (for validation and the agent; never for output)."""
    if isinstance(v, Secret):
        return reveal(v.value)
    if isinstance(v, dict):
        return {k: reveal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [reveal(x) for x in v]
    return v


def has_secret(v: Any) -> bool:
    if isinstance(v, Secret):
        return True
    if isinstance(v, dict):
        return any(has_secret(x) for x in v.values())
    if isinstance(v, list):
        return any(has_secret(x) for x in v)
    return False


def has_unknown(v: Any) -> bool:
    if isinstance(v, Unknown):
        return True
    if isinstance(v, Secret):
        return has_unknown(v.value)
    if isinstance(v, dict):
        return any(has_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(has_unknown(x) for x in v)
    return False


def secret_strings(v: Any, inside: bool = False) -> list[str]:
    """Every string under a Secret marker (the redactor learns them so logs never show them)."""
    if isinstance(v, Secret):
        return secret_strings(v.value, True)
    if isinstance(v, dict):
        return [s for x in v.values() for s in secret_strings(x, inside)]
    if isinstance(v, list):
        return [s for x in v for s in secret_strings(x, inside)]
    return [v] if inside and isinstance(v, str) and v else []


def mark_secret(values: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """`values` with each top-level key in `keys` wrapped as a secret (once)."""
    out = {}
    for k, v in values.items():
        out[k] = Secret(v) if k in keys and v is not None and not isinstance(v, Secret) else v
    return out


def secret_keys(values: dict[str, Any]) -> set[str]:
    return {k for k, v in values.items() if has_secret(v)}
