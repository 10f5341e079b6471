"""Diagnostics that name the attribute and the reason, from every source of failure.

Terraform prints a diagnostic with an AttributePath next to the offending line of configuration,
so each error carries the path of the field it concerns: pydantic's `loc`, the agent's
problem+json `field`/`errors` (dotted paths like `disks.0.base_image`), or our own checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from novacron_sdk.client import ApiError
from novacron_tf.schema import Block

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    detail: str = ""
    path: Path | None = None
    warning: bool = False


class DiagnosticsError(Exception):
    """Raised by handlers to stop with these diagnostics (the RPC answers them, never crashes)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.summary for d in self.diagnostics))


def error(summary: str, detail: str = "", path: Path | None = None) -> Diagnostic:
    return Diagnostic(summary, detail, path)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(not d.warning for d in diags)


def dotted(field: str | None) -> Path | None:
    """`disks.0.base_image` -> ("disks", 0, "base_image"); None/"(root)" -> None."""
    if not field or field == "(root)":
        return None
    return tuple(int(p) if p.isdigit() else p for p in field.split("."))


def show(path: Path | None) -> str:
    if not path:
        return "(resource)"
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def from_validation(exc: ValidationError, prefix: Path = ()) -> list[Diagnostic]:
    """One diagnostic per pydantic error, worded the way the agent words them."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        path = (*prefix, *loc)
        out.append(error(f"Invalid value for {show(path)}", f"{show(path)}: {_reason(err)}", path or None))
    return out


def _reason(err: Any) -> str:
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return "is required" if err.get("type") == "missing" else msg


def from_api(exc: ApiError, action: str, prefix: Path = ()) -> list[Diagnostic]:
    """The agent said no (or could not be reached): say what we were doing, and where."""
    if exc.status == 0:
        return [error("NovaCron agent unreachable", f"{action}: {exc.detail}. Check the provider's "
                      "`endpoint` (or the `peer` block for that node) and that the agent is running.")]
    if exc.status == 401:
        return [error("NovaCron agent refused the token", f"{action}: {exc.detail}. Check the provider's "
                      "`token` (create one with `novacron token create`).")]
    items = exc.errors or ([{"field": exc.field, "message": exc.detail}] if exc.field else [])
    if items:
        return [error(f"{exc.title}: {show((*prefix, *(dotted(i.get('field')) or ())))}",
                      f"{action}: {i.get('field')}: {i.get('message')}",
                      (*prefix, *(dotted(i.get("field")) or ())) or None)
                for i in items]
    return [error(f"{exc.title} ({exc.status})" if exc.status else exc.title, f"{action}: {exc.detail}")]


def to_proto(diags: Iterable[Diagnostic], pb: Any, block: Block | None = None) -> list[Any]:
    out = []
    for d in diags:
        msg = pb.Diagnostic(severity=pb.Diagnostic.WARNING if d.warning else pb.Diagnostic.ERROR,
                            summary=d.summary, detail=d.detail)
        if d.path:
            msg.attribute.CopyFrom(attribute_path(d.path, pb, block))
        out.append(msg)
    return out


def attribute_path(path: Path, pb: Any, block: Block | None = None) -> Any:
    """Steps for Terraform: attribute names, list indexes, and map keys (known from the schema)."""
    steps = []
    ty: Any = block.implied_type() if block is not None else None
    for step in path:
        kind = ty[0] if isinstance(ty, list) else ty
        if isinstance(step, int):
            steps.append(pb.AttributePath.Step(element_key_int=step))
            ty = ty[1] if kind in ("list", "set") else None
        elif kind == "map":
            steps.append(pb.AttributePath.Step(element_key_string=step))
            ty = ty[1]
        else:
            steps.append(pb.AttributePath.Step(attribute_name=step))
            ty = ty[1].get(step) if kind == "object" else None
    return pb.AttributePath(steps=steps)
