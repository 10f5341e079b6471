"""DynamicValue encoding: msgpack (and JSON, which Terraform may send) driven by cty types.

Rules from Terraform's object wire format: null is msgpack nil; an unknown is any msgpack
extension (we write type 0, as cty does); numbers arrive as int, float or a decimal string;
objects carry every attribute of their type; "dynamic" values are `[type JSON bytes, value]` in
msgpack and `{"type", "value"}` in JSON. Decoding checks the value against the type, so a
provider bug or a schema mismatch fails with the path of the offending value instead of later.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

import msgpack

from novacron_tf.cty import UNKNOWN, CtyType, Dynamic, kind, parse_type, type_json

_INT64 = (-(1 << 63), (1 << 64) - 1)  # msgpack carries int64 and uint64
_UNKNOWN_EXT = msgpack.ExtType(0, b"\x00")


class CodecError(ValueError):
    """A value does not fit its type; `path` says where."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(root)"
        super().__init__(f"{where}: {message}")
        self.path = path


# ---------------------------------------------------------------- decode


def decode_msgpack(data: bytes, ty: CtyType) -> Any:
    raw = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=lambda _c, _d: UNKNOWN)
    return _conform(raw, ty, (), wire="msgpack", lenient=False)


def decode_json(data: bytes | str, ty: CtyType, *, lenient: bool = False) -> Any:
    """`lenient` drops object attributes the type lacks (state written by an older schema)."""
    return _conform(json.loads(data), ty, (), wire="json", lenient=lenient)


def _number(value: Any, path: tuple[str | int, ...]) -> int | float:
    if isinstance(value, bool):
        raise CodecError(path, f"expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str):
        try:
            dec = Decimal(value)
        except InvalidOperation:
            raise CodecError(path, f"expected a number, got {value!r}") from None
        return int(dec) if dec == dec.to_integral_value() else float(dec)
    raise CodecError(path, f"expected a number, got {type(value).__name__}")


def _conform(value: Any, ty: CtyType, path: tuple[str | int, ...], *, wire: str, lenient: bool) -> Any:
    if value is None or value is UNKNOWN:
        return value
    k = kind(ty)
    if k == "string":
        if not isinstance(value, str):
            raise CodecError(path, f"expected a string, got {type(value).__name__}")
        return value
    if k == "number":
        return _number(value, path)
    if k == "bool":
        if not isinstance(value, bool):
            raise CodecError(path, f"expected a bool, got {type(value).__name__}")
        return value
    if k in ("list", "set"):
        if not isinstance(value, list):
            raise CodecError(path, f"expected a {k}, got {type(value).__name__}")
        return [_conform(v, ty[1], (*path, i), wire=wire, lenient=lenient) for i, v in enumerate(value)]
    if k == "tuple":
        if not isinstance(value, list) or len(value) != len(ty[1]):
            raise CodecError(path, f"expected a tuple of {len(ty[1])} elements")
        return [_conform(v, t, (*path, i), wire=wire, lenient=lenient)
                for i, (v, t) in enumerate(zip(value, ty[1], strict=True))]
    if k == "map":
        if not isinstance(value, dict):
            raise CodecError(path, f"expected a map, got {type(value).__name__}")
        return {str(key): _conform(v, ty[1], (*path, str(key)), wire=wire, lenient=lenient)
                for key, v in value.items()}
    if k == "object":
        if not isinstance(value, dict):
            raise CodecError(path, f"expected an object, got {type(value).__name__}")
        attrs: dict[str, CtyType] = ty[1]
        extra = set(value) - set(attrs)
        if extra and not lenient:
            raise CodecError(path, f"unexpected attribute(s) {', '.join(sorted(map(str, extra)))}")
        return {name: _conform(value.get(name), aty, (*path, name), wire=wire, lenient=lenient)
                for name, aty in attrs.items()}
    if k == "dynamic":
        if wire == "msgpack":
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes | str)):
                raise CodecError(path, "expected [type, value] for a dynamic value")
            raw_type = value[0].encode() if isinstance(value[0], str) else value[0]
            inner_ty, inner = parse_type(raw_type), value[1]
        else:
            if not (isinstance(value, dict) and "type" in value):
                raise CodecError(path, 'expected {"type", "value"} for a dynamic value')
            inner_ty, inner = parse_type(value["type"]), value.get("value")
        return Dynamic(inner_ty, _conform(inner, inner_ty, path, wire=wire, lenient=lenient))
    raise CodecError(path, f"unsupported type {ty!r}")


# ---------------------------------------------------------------- encode


def encode_msgpack(value: Any, ty: CtyType) -> bytes:
    return msgpack.packb(_packable(value, ty, ()), use_bin_type=True)


def _packable(value: Any, ty: CtyType, path: tuple[str | int, ...]) -> Any:
    if value is None:
        return None
    if value is UNKNOWN:
        return _UNKNOWN_EXT
    k = kind(ty)
    if k == "string":
        if not isinstance(value, str):
            raise CodecError(path, f"expected a string, got {type(value).__name__}")
        return value
    if k == "number":
        return _pack_number(value, path)
    if k == "bool":
        if not isinstance(value, bool):
            raise CodecError(path, f"expected a bool, got {type(value).__name__}")
        return value
    if k in ("list", "set", "tuple"):
        if not isinstance(value, list | tuple | set | frozenset):
            raise CodecError(path, f"expected a {k}, got {type(value).__name__}")
        items = list(value)
        if k == "tuple":
            if len(items) != len(ty[1]):
                raise CodecError(path, f"expected a tuple of {len(ty[1])} elements")
            return [_packable(v, t, (*path, i)) for i, (v, t) in enumerate(zip(items, ty[1], strict=True))]
        return [_packable(v, ty[1], (*path, i)) for i, v in enumerate(items)]
    if k == "map":
        if not isinstance(value, dict):
            raise CodecError(path, f"expected a map, got {type(value).__name__}")
        return {str(key): _packable(v, ty[1], (*path, str(key))) for key, v in value.items()}
    if k == "object":
        if not isinstance(value, dict):
            raise CodecError(path, f"expected an object, got {type(value).__name__}")
        extra = set(value) - set(ty[1])
        if extra:
            raise CodecError(path, f"unexpected attribute(s) {', '.join(sorted(map(str, extra)))}")
        return {name: _packable(value.get(name), aty, (*path, name)) for name, aty in ty[1].items()}
    if k == "dynamic":
        if not isinstance(value, Dynamic):
            raise CodecError(path, "a dynamic value must be a Dynamic(type, value)")
        return [type_json(value.type), _packable(value.value, value.type, path)]
    raise CodecError(path, f"unsupported type {ty!r}")


def _pack_number(value: Any, path: tuple[str | int, ...]) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise CodecError(path, f"expected a number, got {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CodecError(path, "a number must be finite")
        if value == value.to_integral_value():
            value = int(value)
        else:
            as_float = float(value)
            return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise CodecError(path, "NaN is not a Terraform number")
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value
    if _INT64[0] <= value <= _INT64[1]:
        return value
    return str(value)  # beyond 64 bits: the decimal string form keeps every digit
