"""Walk a pydantic model into a neutral field tree that every face's generator renders."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

Kind = Literal["str", "int", "float", "bool", "map", "object", "list"]


@dataclass
class FieldNode:
    """One field as the faces see it: kind, choices, default, bounds, nested fields."""

    name: str
    kind: Kind
    description: str = ""
    required: bool = False
    nullable: bool = False
    default: Any = None
    choices: list[Any] | None = None
    items: FieldNode | None = None  # for list
    fields: list[FieldNode] = field(default_factory=list)  # for object
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _bounds(info: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for attr, key in (("ge", "minimum"), ("gt", "minimum"), ("le", "maximum"), ("lt", "maximum")):
            value = getattr(meta, attr, None)
            if value is not None:
                out[key] = value
        if getattr(meta, "pattern", None):
            out["pattern"] = meta.pattern
    return out


def node_for(name: str, annotation: Any, info: FieldInfo | None = None) -> FieldNode:
    annotation, nullable = _unwrap_optional(annotation)
    description = (info.description or "") if info else ""
    required = bool(info and info.is_required())
    default: Any = None
    if info is not None and not required:
        if info.default_factory is not None:
            default = info.default_factory()  # type: ignore[call-arg]
        elif info.default is not PydanticUndefined:
            default = info.default
    common = {"description": description, "required": required, "nullable": nullable, "default": default}
    common.update(_bounds(info) if info else {})
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = list(typing.get_args(annotation))
        return FieldNode(name, "str", choices=choices, **common)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return FieldNode(name, "object", fields=model_fields(annotation),
                         **{**common, "description": description or _first_line(annotation.__doc__)})
    if origin is list:
        (item,) = typing.get_args(annotation)
        return FieldNode(name, "list", items=node_for("item", item), **common)
    if origin is dict:
        return FieldNode(name, "map", **common)
    simple = {str: "str", int: "int", float: "float", bool: "bool"}
    if annotation in simple:
        return FieldNode(name, simple[annotation], **common)  # type: ignore[arg-type]
    raise TypeError(f"{name}: no face mapping for {annotation!r}")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def model_fields(model: type[BaseModel], *, exclude: set[str] | frozenset[str] = frozenset()) -> list[FieldNode]:
    hints = typing.get_type_hints(model)
    return [node_for(name, hints[name], info) for name, info in model.model_fields.items() if name not in exclude]
