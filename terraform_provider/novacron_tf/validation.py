"""Check a configuration against the agent's pydantic model before anything is planned.

The model is the contract, so its own validation runs here (bounds, patterns, one-of rules)
and each error becomes a diagnostic on the attribute it names. Values not known until apply are
left out, and errors at or around them are dropped: they will be checked once known.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from novacron_tf.cty import UNKNOWN, unknown_paths
from novacron_tf.diagnostics import Diagnostic, from_validation
from novacron_tf.planning import strip_nulls
from novacron_tf.schema import Block


def _without_unknowns(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_unknowns(v) for k, v in value.items() if v is not UNKNOWN}
    if isinstance(value, list):
        return [_without_unknowns(v) if v is not UNKNOWN else {} for v in value]
    return value


def validate_model(model: type[BaseModel], data: dict[str, Any], block: Block | None = None) -> list[Diagnostic]:
    data = strip_nulls(data)
    pending = unknown_paths(data)
    try:
        model.model_validate(_without_unknowns(data))
    except ValidationError as exc:
        diags = [_sharpen(d, block) for d in from_validation(exc)]
        return [d for d in diags if not any(_related(d.path or (), u) for u in pending)]
    return []


def _sharpen(diag: Diagnostic, block: Block | None) -> Diagnostic:
    """A rule about a whole nested block ("one of size_gib or base_image is required") is pinned
    to the first attribute it mentions: Terraform 1.0 can point into a block, not at a block."""
    if block is None or not diag.path:
        return diag
    inner: Block | None = block
    for step in diag.path:
        if isinstance(step, int):
            continue
        nb = inner.block_index.get(step) if inner is not None else None
        inner = nb.block if nb is not None else None
    if inner is None or inner is block:
        return diag
    reason = diag.detail.split(": ", 1)[-1]
    named = sorted((reason.find(a.name), a.name) for a in inner.attributes if a.name in reason)
    if not named:
        return diag
    return replace(diag, path=(*diag.path, named[0][1]))


def _related(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]
