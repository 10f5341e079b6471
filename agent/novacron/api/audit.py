"""The audit log: every mutating API call, accepted or refused, in the store and the log.

Who (a client token's subject and id, or node:<id>), what (method, path and query, never a body:
bodies carry cloud-init user_data), the status, and the caller's address. Readable with an admin
token at GET /api/v1/audit; the `novacron.audit` logger carries the same lines for a log shipper.
"""

from __future__ import annotations

import asyncio
import logging

from novacron.api.services import AgentServices
from novacron.store.records import AuditEntry

log = logging.getLogger("novacron.audit")


class AuditLog:
    def __init__(self, svc: AgentServices) -> None:
        self.svc = svc

    async def __call__(self, entry: AuditEntry) -> None:
        log.info("%s %s %s -> %d from %s (token %s)", entry.principal, entry.method, entry.path, entry.status,
                 entry.source or "?", entry.token_id or "-")  # fmt: skip
        store = self.svc.store
        if store is None:
            return
        try:
            await asyncio.to_thread(store.add_audit, entry)
        except Exception as exc:  # the call happened; losing its audit line must not fail it too
            log.error("audit entry not stored: %s", exc)
