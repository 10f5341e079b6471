"""Generic planning over a schema block: what Terraform should expect after apply.

Rules (per attribute): a value in the configuration is planned as is; an optional+computed
attribute left out gets the model's default when it has one, else keeps its prior value, else is
unknown until apply; a computed-only attribute keeps its prior value or is unknown. Elements of
nested LIST blocks are matched to their prior selves by a key attribute (a disk by its name)
rather than by position, so reordering never invents differences.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from novacron_tf.cty import UNKNOWN
from novacron_tf.schema import Block

Obj = dict[str, Any]


def plan_block(block: Block, config: Obj, prior: Obj | None, match: Mapping[str, str] | None = None) -> Obj:
    match = match or {}
    planned: Obj = {}
    for attr in block.attributes:
        cfg = config.get(attr.name)
        before = prior.get(attr.name) if prior is not None else None
        if cfg is not None or not attr.computed:
            planned[attr.name] = copy.deepcopy(cfg)
        elif attr.optional and attr.default is not None:
            planned[attr.name] = copy.deepcopy(attr.default)
        elif prior is not None:
            planned[attr.name] = copy.deepcopy(before)
        else:
            planned[attr.name] = UNKNOWN
    for nb in block.block_types:
        cfg = config.get(nb.type_name)
        before = prior.get(nb.type_name) if prior is not None else None
        if cfg is None or cfg is UNKNOWN:
            planned[nb.type_name] = [] if cfg is None and nb.nesting == "list" else cfg
        elif nb.nesting == "single":
            planned[nb.type_name] = plan_block(nb.block, cfg, before if isinstance(before, dict) else None)
        else:
            key = match.get(nb.type_name)
            planned[nb.type_name] = [
                elem if elem is UNKNOWN else plan_block(nb.block, elem, _match(before, elem, i, key))
                for i, elem in enumerate(cfg)
            ]
    return planned


def _match(prior: Any, elem: Obj, index: int, key: str | None) -> Obj | None:
    if not isinstance(prior, list):
        return None
    if key is None:
        return prior[index] if index < len(prior) and isinstance(prior[index], dict) else None
    want = elem.get(key)
    if want is None or want is UNKNOWN:
        return None
    return next((p for p in prior if isinstance(p, dict) and p.get(key) == want), None)


def differs(a: Obj | None, b: Obj | None, names: list[str]) -> list[str]:
    """Names whose values differ between two objects (an unknown always differs)."""
    if a is None or b is None:
        return list(names)
    return [n for n in names if a.get(n) != b.get(n) or a.get(n) is UNKNOWN or b.get(n) is UNKNOWN]


def strip_nulls(value: Any) -> Any:
    """An object without null members (recursively): what the agent's models expect for 'unset'."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def shape(block: Block, source: Mapping[str, Any]) -> Obj:
    """`source` (e.g. a model dump) reduced to exactly the block's attributes and nested blocks."""
    out: Obj = {a.name: source.get(a.name) for a in block.attributes}
    for nb in block.block_types:
        value = source.get(nb.type_name)
        if nb.nesting == "single":
            out[nb.type_name] = shape(nb.block, value) if isinstance(value, Mapping) else None
        else:
            out[nb.type_name] = [shape(nb.block, v) for v in value or []]
    return out
