"""msgpack/JSON DynamicValue codec against cty types: round trips, wire details, and errors."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novacron_tf.codec import CodecError, decode_json, decode_msgpack, encode_msgpack
from novacron_tf.cty import UNKNOWN, Dynamic, parse_type, type_json, unknown_paths

NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
PRIMS = st.sampled_from(["string", "number", "bool"])


def types(depth: int = 3) -> st.SearchStrategy[Any]:
    return st.recursive(
        PRIMS,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["list", "set", "map"]), inner).map(list),
            st.dictionaries(NAMES, inner, max_size=4).map(lambda d: ["object", d]),
            st.lists(inner, max_size=3).map(lambda xs: ["tuple", xs]),
        ),
        max_leaves=8,
    )


NUMBERS = st.one_of(st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))


def values(ty: Any, *, unknowns: bool = True) -> st.SearchStrategy[Any]:
    kind = ty if isinstance(ty, str) else ty[0]
    if kind == "string":
        base: st.SearchStrategy[Any] = st.text(max_size=12)
    elif kind == "number":
        base = NUMBERS
    elif kind == "bool":
        base = st.booleans()
    elif kind in ("list", "set"):
        base = st.lists(values(ty[1], unknowns=unknowns), max_size=3)
    elif kind == "map":
        base = st.dictionaries(st.text(max_size=5), values(ty[1], unknowns=unknowns), max_size=3)
    elif kind == "tuple":
        base = st.tuples(*[values(t, unknowns=unknowns) for t in ty[1]]).map(list)
    else:
        base = st.fixed_dictionaries({k: values(t, unknowns=unknowns) for k, t in ty[1].items()})
    extra = [st.none()] + ([st.just(UNKNOWN)] if unknowns else [])
    return st.one_of(base, *extra)


@st.composite
def typed_values(draw: st.DrawFn, unknowns: bool = True) -> tuple[Any, Any]:
    ty = draw(types())
    return ty, draw(values(ty, unknowns=unknowns))


@settings(max_examples=150, deadline=None)
@given(typed_values())
def test_msgpack_round_trip(tv: tuple[Any, Any]) -> None:
    ty, value = tv
    assert decode_msgpack(encode_msgpack(value, ty), ty) == value


@settings(max_examples=80, deadline=None)
@given(typed_values(unknowns=False))
def test_json_decodes_what_terraform_would_send(tv: tuple[Any, Any]) -> None:
    ty, value = tv
    assert decode_json(json.dumps(value), ty) == value


@settings(max_examples=50, deadline=None)
@given(types())
def test_type_json_round_trip(ty: Any) -> None:
    assert parse_type(type_json(ty)) == ty


def test_unknown_is_msgpack_extension_zero_and_any_extension_decodes_as_unknown() -> None:
    raw = encode_msgpack({"a": UNKNOWN}, ["object", {"a": "string"}])
    assert msgpack.unpackb(raw, ext_hook=lambda code, data: ("ext", code))["a"] == ("ext", 0)
    refined = msgpack.packb({"a": msgpack.ExtType(12, msgpack.packb({1: False}))})  # newer Terraform
    assert decode_msgpack(refined, ["object", {"a": "string"}]) == {"a": UNKNOWN}


def test_numbers_accept_every_wire_form() -> None:
    for wire, expected in ((512, 512), (512.0, 512), (1.5, 1.5), ("123456789012345678901234567890",
                                                                 123456789012345678901234567890), ("2.5", 2.5)):
        assert decode_msgpack(msgpack.packb(wire), "number") == expected
    assert msgpack.unpackb(encode_msgpack(2**70, "number")) == str(2**70)  # beyond 64 bits: decimal string


def test_dynamic_values_carry_their_type() -> None:
    value = Dynamic(["list", "string"], ["a", "b"])
    raw = encode_msgpack(value, "dynamic")
    type_bytes, inner = msgpack.unpackb(raw, raw=False)
    assert json.loads(type_bytes) == ["list", "string"] and inner == ["a", "b"]
    assert decode_msgpack(raw, "dynamic") == value
    assert decode_json('{"type": "number", "value": 3}', "dynamic") == Dynamic("number", 3)


def test_objects_get_every_attribute_and_reject_strangers() -> None:
    ty = ["object", {"a": "string", "b": ["list", "number"]}]
    assert decode_msgpack(encode_msgpack({"a": "x"}, ty), ty) == {"a": "x", "b": None}
    with pytest.raises(CodecError, match=r"unexpected attribute\(s\) c"):
        encode_msgpack({"a": "x", "c": 1}, ty)
    assert decode_json('{"a": "x", "old": 1}', ty, lenient=True) == {"a": "x", "b": None}


@pytest.mark.parametrize("value,ty,where", [
    ({"a": [1, "two"]}, ["object", {"a": ["list", "number"]}], "a[1]"),
    ({"m": {"k": 5}}, ["object", {"m": ["map", "string"]}], "m.k"),
    (True, "number", "(root)"),
])
def test_type_errors_name_the_path(value: Any, ty: Any, where: str) -> None:
    with pytest.raises(CodecError) as exc:
        encode_msgpack(value, ty)
    assert str(exc.value).startswith(where + ":")


def test_unknown_paths_lists_each_unknown() -> None:
    assert unknown_paths({"a": UNKNOWN, "b": [1, {"c": UNKNOWN}]}) == [("a",), ("b", 1, "c")]
