"""Check a configuration against the agent's pydantic model before anything is planned.

The model is the contract, so its own validation runs here (bounds, patterns, one-of rules)
and each error becomes a diagnostic on the attribute it names. Values not known until apply are
left out, and errors at or around them are dropped: they will be checked once known.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from novacron_tf.cty import UNKNOWN, unknown_paths
from novacron_tf.diagnostics import Diagnostic, from_validation
from novacron_tf.planning import strip_nulls


def _without_unknowns(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_unknowns(v) for k, v in value.items() if v is not UNKNOWN}
    if isinstance(value, list):
        return [_without_unknowns(v) if v is not UNKNOWN else {} for v in value]
    return value


def validate_model(model: type[BaseModel], data: dict[str, Any]) -> list[Diagnostic]:
    data = strip_nulls(data)
    pending = unknown_paths(data)
    try:
        model.model_validate(_without_unknowns(data))
    except ValidationError as exc:
        diags = from_validation(exc)
        return [d for d in diags if not any(_related(d.path or (), u) for u in pending)]
    return []


def _related(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]
