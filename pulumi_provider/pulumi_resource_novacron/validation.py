"""Validate Pulumi inputs against the agent's pydantic models, around values unknown at preview.

Errors name the property as the user wrote it (`disks[0].sizeGib`). A failure located at, inside
or around a value that is not known yet is dropped: it may well be fine once the value is known.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from pulumi_resource_novacron.names import camel
from pulumi_resource_novacron.schema import Shapes
from pulumi_resource_novacron.values import Unknown

_SNAKE_WORD = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def unknown_locs(v: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(v, Unknown):
        return [loc]
    if isinstance(v, dict):
        return [u for k, x in v.items() for u in unknown_locs(x, (*loc, k))]
    if isinstance(v, list):
        return [u for i, x in enumerate(v) for u in unknown_locs(x, (*loc, i))]
    return []


def _related(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def reason(err: dict[str, Any]) -> str:
    """pydantic's message in the user's vocabulary: camelCase names, the offending value if short."""
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown property"
    if kind == "missing":
        return "required"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = _SNAKE_WORD.sub(lambda m: camel(m.group(0)), msg)
    got = err.get("input")
    if isinstance(got, bool | int | float) or (isinstance(got, str) and len(got) <= 64):
        msg += f" (got {got!r})"
    return msg


def failures(model: type[BaseModel], data: dict[str, Any], shapes: Shapes,
             prefix: tuple[str | int, ...] = ()) -> dict[str, str]:
    """Property path -> reason for `data` (agent shape) under `model`; {} when valid."""
    skip = unknown_locs(data)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        out: dict[str, str] = {}
        for err in exc.errors():
            loc = (*prefix, *err["loc"])
            if any(_related(tuple(err["loc"]), u) for u in skip):
                continue
            out.setdefault(shapes.path(loc), reason(dict(err)))
        return out
    return {}
