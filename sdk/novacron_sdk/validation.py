"""Turn pydantic validation errors into `field.path: problem` messages people can act on.

Used by `novacron config validate`, the REST API's 422 problem documents and the faces, so the
same bad input reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_TEMPLATES: dict[str, str] = {
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "too_long": "must have at most {max_length} items",
    "too_short": "must have at least {min_length} items",
    "string_pattern_mismatch": "must match {pattern}",
    "literal_error": "must be one of {expected}",
    "extra_forbidden": "unknown field",
    "missing": "is required",
}


def field_path(loc: tuple[Any, ...]) -> str:
    """Dotted path of a pydantic error location, dropping pydantic's internal tags."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    return ".".join(parts) or "(root)"


def describe_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """One `{"field", "message"}` per problem, in pydantic's order, with readable wording."""
    out: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        template = _TEMPLATES.get(err["type"])
        ctx = err.get("ctx") or {}
        try:
            message = template.format(**ctx) if template else _clean(err["msg"])
        except (KeyError, IndexError):
            message = _clean(err["msg"])
        out.append({"field": field_path(prefix + tuple(err["loc"])), "message": message})
    return out


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def format_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    return "\n".join(f"{e['field']}: {e['message']}" for e in describe_errors(exc, prefix))
