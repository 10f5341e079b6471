"""What every resource and data source handler implements, and the context they run in.

Handlers see decoded Python values (None, UNKNOWN, dicts, lists) and raise DiagnosticsError to
fail; the gRPC layer (provider.py) does all encoding, so handlers are testable without gRPC.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from novacron_tf.agents import Agents
from novacron_tf.diagnostics import Diagnostic, DiagnosticsError, error
from novacron_tf.schema import Schema

Obj = dict[str, Any]
Path = tuple[str | int, ...]


@dataclass
class Context:
    """Per-process state: the configured agents, and the StopProvider signal."""

    agents_: Agents | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def agents(self) -> Agents:
        if self.agents_ is None:
            raise DiagnosticsError([error("Provider not configured",
                                          "The novacron provider block was not configured before use.")])
        return self.agents_


@dataclass
class Plan:
    planned: Obj | None
    requires_replace: list[Path] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Resource(Protocol):
    schema: Schema

    def validate(self, config: Obj) -> list[Diagnostic]: ...

    def plan(self, ctx: Context, prior: Obj | None, config: Obj | None, proposed: Obj | None) -> Plan: ...

    def apply(self, ctx: Context, prior: Obj | None, planned: Obj | None, config: Obj | None) -> Obj | None: ...

    def read(self, ctx: Context, state: Obj) -> Obj | None: ...

    def import_state(self, ctx: Context, import_id: str) -> Obj: ...


class DataSource(Protocol):
    schema: Schema

    def validate(self, config: Obj) -> list[Diagnostic]: ...

    def read(self, ctx: Context, config: Obj) -> Obj: ...


class ApplyFailed(DiagnosticsError):
    """An apply that failed part-way: `state` is what exists now (Terraform must keep tracking it)."""

    def __init__(self, diagnostics: list[Diagnostic], state: Obj | None) -> None:
        super().__init__(diagnostics)
        self.state = state
