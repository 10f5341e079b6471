"""Terraform's type system (cty) as the plugin protocol spells it: compact JSON type constraints.

A type is `"string" | "number" | "bool" | "dynamic"` or `[kind, arg]` with kind one of list, set,
map, object (arg: {name: type}) and tuple (arg: [types]). Values are plain Python: None for null,
`UNKNOWN` for a value known only after apply, str/int/float/bool, list (list, set, tuple), dict
(map, object) and `Dynamic` for a value whose type travels with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

CtyType = Any  # str | list: the JSON form itself, so schemas and wire share one spelling
PRIMITIVES: Final = ("string", "number", "bool")


class _Unknown:
    """Placeholder for a value decided during apply (msgpack extension type 0 on the wire)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class Dynamic:
    """A value of schema type "dynamic": its concrete type goes on the wire next to it."""

    type: CtyType
    value: Any


def type_json(ty: CtyType) -> bytes:
    """The type as the `Schema.Attribute.type` bytes field wants it (compact JSON)."""
    return json.dumps(ty, separators=(",", ":")).encode()


def parse_type(raw: bytes | CtyType) -> CtyType:
    """Validate a type constraint (bytes: its JSON); raises ValueError naming what is wrong."""
    ty = json.loads(raw) if isinstance(raw, bytes) else raw
    if isinstance(ty, str):
        if ty in (*PRIMITIVES, "dynamic"):
            return ty
        raise ValueError(f"unknown primitive type {ty!r}")
    if isinstance(ty, list) and len(ty) == 2:
        kind, arg = ty
        if kind in ("list", "set", "map"):
            return [kind, parse_type(arg)]
        if kind == "object" and isinstance(arg, dict):
            return ["object", {str(k): parse_type(v) for k, v in arg.items()}]
        if kind == "tuple" and isinstance(arg, list):
            return ["tuple", [parse_type(v) for v in arg]]
    raise ValueError(f"not a type constraint: {ty!r}")


def kind(ty: CtyType) -> str:
    return ty if isinstance(ty, str) else ty[0]


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, Dynamic):
        return contains_unknown(value.value)
    return False


def unknown_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths (attribute names and list indexes) of every unknown inside `value`."""
    if value is UNKNOWN:
        return [prefix]
    out: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out += unknown_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += unknown_paths(item, (*prefix, i))
    return out
