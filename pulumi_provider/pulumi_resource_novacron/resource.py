"""The interface every resource handler implements; the server dispatches to it by type token.

Properties arrive decoded (`values.decode`): plain Python with `Secret` and `Unknown` markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pulumi_resource_novacron.context import OpContext
from pulumi_resource_novacron.diffing import DiffResult


@dataclass
class CheckArgs:
    olds: dict[str, Any]
    news: dict[str, Any]
    name: str  # the resource's name in the program
    seed: bytes = b""
    proposed_name: str = ""  # the engine's autonaming proposal, if any
    autonaming: str = "propose"  # propose | enforce | disable


class Resource(Protocol):
    token: str

    def check(self, args: CheckArgs) -> tuple[dict[str, Any], dict[str, str]]: ...

    def diff(self, olds: dict[str, Any], news: dict[str, Any], ignore: list[str],
             ctx: OpContext | None = None) -> DiffResult: ...

    def create(self, ctx: OpContext, inputs: dict[str, Any], timeout: float, preview: bool
               ) -> tuple[str, dict[str, Any]]: ...

    def read(self, ctx: OpContext, id: str, props: dict[str, Any], inputs: dict[str, Any]
             ) -> tuple[str, dict[str, Any], dict[str, Any]]: ...

    def update(self, ctx: OpContext, id: str, olds: dict[str, Any], news: dict[str, Any], timeout: float,
               preview: bool) -> dict[str, Any]: ...

    def delete(self, ctx: OpContext, id: str, props: dict[str, Any], timeout: float) -> None: ...
