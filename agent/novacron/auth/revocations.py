"""Revoked client tokens: checked on every call from memory, kept in the store.

The set is re-read from the store every second by a background task, so a revocation written
by `novacron token revoke --config` from another process (the agent running or not) takes hold
within a second; one made through the API holds at once. Entries past the token's own expiry
are pruned: such a token is refused anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("novacron.auth")
REFRESH_S = 1.0


class Revocations:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._ids: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._ids

    def load(self, *, prune: bool = False) -> None:
        """Read the set now (blocking); with `prune`, drop entries of tokens expired anyway first."""
        if prune:
            self._store.prune_revoked(datetime.now(UTC))
        self._ids = frozenset(r.token_id for r in self._store.list_revoked())

    def revoke(self, token_id: str, *, expires_at: datetime, reason: str, by: str) -> bool:
        """Persist, then hold in memory (blocking). False when it was revoked already."""
        new = bool(self._store.revoke_token(token_id, expires_at=expires_at, reason=reason, by=by))
        self._ids = self._ids | {token_id}
        return new

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="token-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await asyncio.to_thread(self.load)
                failing = False
            except Exception as exc:  # the last set read stays in force
                if not failing:
                    log.warning("cannot re-read revoked tokens from the store: %s", exc)
                failing = True
