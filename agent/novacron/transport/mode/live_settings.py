"""The current ModeProfile, and the switch from one profile to the next while traffic flows.

A switch is one reference swap (profiles are immutable, so readers see either the old or the new
profile, never a mix) followed by a call to every subscriber under the same lock, so concurrent
switches cannot interleave and leave a subscriber on an older profile than `current`.

Subscriber contract (AMST channel `apply_settings`, HDE encoder `set_level`, ...): take the
profile, change parameters for the *next* frames only, return quickly, never block on I/O and
never call `apply` back. A frame already being sent finishes with the settings it started with,
which is why a migration in flight survives a switch. A subscriber that raises is reported and
skipped; the others still switch.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from novacron.dwcp.mode.profiles import ModeProfile
from novacron_sdk.errors import InvalidInput

Subscriber = Callable[[ModeProfile], object]
Clock = Callable[[], float]


@dataclass(frozen=True)
class SwitchReport:
    old: ModeProfile
    new: ModeProfile
    duration_s: float
    subscribers: int
    errors: tuple[str, ...] = ()
    generation: int = 0
    changed: bool = True


class Subscription:
    """Handle returned by `subscribe`; `close()` (or `with`) unsubscribes."""

    def __init__(self, owner: LiveSettings, ref: Callable[[], Subscriber | None], name: str) -> None:
        self._owner = weakref.ref(owner)
        self.ref = ref
        self.name = name

    def close(self) -> None:
        owner = self._owner()
        if owner is not None:
            owner.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _name(fn: Subscriber) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class LiveSettings:
    def __init__(self, initial: ModeProfile) -> None:
        if not isinstance(initial, ModeProfile):
            raise InvalidInput("must be a ModeProfile", field="initial")
        self._current = initial
        self._generation = 0
        self._subs: tuple[Subscription, ...] = ()
        self._lock = threading.RLock()

    @property
    def current(self) -> ModeProfile:
        """Lock-free read: a single reference load of an immutable object."""
        return self._current

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def subscriber_count(self) -> int:
        return sum(1 for s in self._subs if s.ref() is not None)

    def subscribe(self, fn: Subscriber, *, weak: bool = False, replay: bool = True) -> Subscription:
        """Register `fn`. weak=True holds it weakly (bound methods via WeakMethod), so a dropped
        channel or encoder unsubscribes itself. replay=True calls it once with the current profile
        under the lock, so it cannot miss a switch racing with its registration."""
        if not callable(fn):
            raise InvalidInput("subscriber must be callable", field="fn")
        ref: Callable[[], Subscriber | None]
        if weak:
            ref = weakref.WeakMethod(fn) if hasattr(fn, "__self__") else weakref.ref(fn)  # type: ignore[arg-type]
        else:
            ref = lambda: fn  # noqa: E731
        sub = Subscription(self, ref, _name(fn))
        with self._lock:
            if replay:
                fn(self._current)
            self._subs = (*self._subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def apply(
        self, profile: ModeProfile, *, clock: Clock = time.perf_counter, started_at: float | None = None
    ) -> SwitchReport:
        """Swap to `profile` and notify every subscriber. `started_at` (same clock) is when the
        switch was decided, so duration covers decision -> settings in effect everywhere."""
        if not isinstance(profile, ModeProfile):
            raise InvalidInput("must be a ModeProfile", field="profile")
        t0 = clock() if started_at is None else started_at
        with self._lock:
            old = self._current
            if profile == old:
                return SwitchReport(old, profile, clock() - t0, 0, (), self._generation, changed=False)
            self._current = profile
            self._generation += 1
            notified, errors, dead = 0, [], False
            for sub in self._subs:
                fn = sub.ref()
                if fn is None:
                    dead = True
                    continue
                try:
                    fn(profile)
                    notified += 1
                except Exception as exc:  # a broken subscriber must not keep the others on old settings
                    errors.append(f"{sub.name}: {type(exc).__name__}: {exc}")
            if dead:
                self._subs = tuple(s for s in self._subs if s.ref() is not None)
            duration = clock() - t0
            return SwitchReport(old, profile, duration, notified, tuple(errors), self._generation)
