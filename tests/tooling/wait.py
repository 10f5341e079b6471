"""Waiting in tests: poll a condition with a deadline, or wait for an event; never sleep a fixed time
before asserting."""

from __future__ import annotations

import asyncio
import inspect
import threading
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


def until_steady(
    what: str, fn: Callable[[], T], still_s: float = 0.3, timeout: float = 30.0, every: float = 0.05
) -> T:
    """The value of `fn()` once it has not changed for `still_s` (a writer that stalled, a counter
    that settled); AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while True:
        time.sleep(every)
        value, now = fn(), time.monotonic()
        if value != last:
            last, since = value, now
        elif now - since >= still_s:
            return value
        if now > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (still changing: {last!r})")


async def until_steady_async(
    what: str, fn: Callable[[], T], still_s: float = 0.3, timeout: float = 30.0, every: float = 0.05
) -> T:
    """`until_steady` inside an event loop."""
    deadline = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while True:
        await asyncio.sleep(every)
        value, now = fn(), time.monotonic()
        if value != last:
            last, since = value, now
        elif now - since >= still_s:
            return value
        if now > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (still changing: {last!r})")


def waits_on(cond: threading.Condition) -> threading.Event:
    """An Event set whenever a thread waits on `cond`: proof, without guessing a delay, that the
    side under test has blocked (it stays so until `cond` is notified or its own timeout ends)."""
    waiting = threading.Event()
    wait = cond.wait

    def wait_and_tell(timeout: float | None = None) -> bool:
        waiting.set()
        return wait(timeout)

    cond.wait = wait_and_tell  # type: ignore[method-assign]
    return waiting
