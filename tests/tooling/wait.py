"""Waiting in tests: poll a condition with a deadline, never sleep a fixed time before asserting."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def until(what: str, fn: Callable[[], T | None], timeout: float = 30.0, every: float = 0.05) -> T:
    """The first truthy value of `fn()`; AssertionError naming `what` (and the last value) at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(every)


async def until_async(
    what: str, fn: Callable[[], Awaitable[T | None] | T | None], timeout: float = 30.0, every: float = 0.01
) -> T:
    """`until` inside an event loop: `fn` may be a plain predicate or return an awaitable."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        got = fn()
        last = await got if inspect.isawaitable(got) else got  # type: ignore[assignment]
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(every)
