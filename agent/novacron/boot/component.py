"""What a boot component declares, and the bag of objects components hand to each other.

A component is data (name, phase, dependencies, timeout, retry policy) plus two coroutines; the
resolver and initializer never need to know what it does, which keeps the boot order testable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from novacron.boot.phases import PHASE_NAMES

MAX_BACKOFF_S = 5.0
"""Retry delays double from `backoff_s` but never grow past this (unless `backoff_s` itself is larger)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class BootContext:
    """Shared bag the components fill: `ctx.db = pool` in one, `ctx.db` or `ctx.get("db")` in a later one.

    Created by the caller with the inputs every component may need, e.g. `BootContext(config=cfg)`.
    """

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: say what exists instead of a bare AttributeError.
        if name.startswith("__"):
            raise AttributeError(name)
        present = ", ".join(sorted(self.__dict__)) or "nothing"
        raise AttributeError(f"BootContext has no '{name}' (no component has set it yet; present: {present})")

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def set(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"BootContext({', '.join(sorted(self.__dict__))})"


StartFn = Callable[[BootContext], Awaitable[None]]


@dataclass(frozen=True)
class Component:
    """One unit of boot work. `retries` counts extra attempts after the first."""

    name: str
    phase: int
    start: StartFn
    stop: StartFn | None = None
    depends_on: tuple[str, ...] = ()
    timeout_s: float = 30.0
    retries: int = 0
    backoff_s: float = 0.05

    def __post_init__(self) -> None:
        where = f"component {self.name!r}"
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"{where}: name must be a non-empty string of letters, digits, '_', '.', ':' or '-'"
            )
        if isinstance(self.phase, bool) or not isinstance(self.phase, int) or self.phase not in PHASE_NAMES:
            allowed = ", ".join(f"{k} ({v})" for k, v in PHASE_NAMES.items())
            raise ValueError(f"{where}: phase must be one of {allowed}; got {self.phase!r}")
        if not callable(self.start):
            raise ValueError(f"{where}: start must be an async callable taking the BootContext")
        if self.stop is not None and not callable(self.stop):
            raise ValueError(f"{where}: stop must be an async callable or None")
        if isinstance(self.depends_on, str):
            # depends_on="db" would silently mean ("d", "b").
            raise ValueError(
                f"{where}: depends_on must be a tuple of names, got the string {self.depends_on!r}"
            )
        deps = tuple(self.depends_on)
        for dep in deps:
            if not isinstance(dep, str) or not dep:
                raise ValueError(f"{where}: depends_on entries must be non-empty names, got {dep!r}")
        object.__setattr__(self, "depends_on", deps)
        if not _positive_finite(self.timeout_s):
            raise ValueError(f"{where}: timeout_s must be a finite number > 0, got {self.timeout_s!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"{where}: retries must be an int >= 0, got {self.retries!r}")
        if not _positive_finite(self.backoff_s, allow_zero=True):
            raise ValueError(f"{where}: backoff_s must be a finite number >= 0, got {self.backoff_s!r}")

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def retry_delay(self, retry: int) -> float:
        """Delay before retry number `retry` (1-based): backoff_s, 2*backoff_s, 4*... capped."""
        if retry < 1:
            raise ValueError(f"retry must be >= 1, got {retry}")
        cap = max(MAX_BACKOFF_S, self.backoff_s)
        # Clamp the exponent so a large retry count cannot overflow the float.
        return min(self.backoff_s * 2.0 ** min(retry - 1, 64), cap)


def _positive_finite(value: object, *, allow_zero: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0
