"""Client access: scoped tokens, their revocation, the audit log, and records the store set aside."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["read", "operate", "admin"]
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$"
TOKEN_ID_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(_Strict):
    """Body of POST /api/v1/tokens (admin): a client token for someone else."""

    subject: str = Field(
        pattern=SUBJECT_PATTERN, description="Who the token is for (shown in the audit log)."
    )
    scopes: list[Scope] = Field(
        min_length=1, max_length=3, description="read, operate (includes read), admin (all)."
    )
    ttl_s: int | None = Field(
        default=None, ge=60, le=366 * 86400,
        description="Lifetime in seconds; default auth.token_ttl_s, at most auth.max_token_ttl_s.",
    )  # fmt: skip


class IssuedToken(_Strict):
    token: str = Field(description="The bearer token: shown once, never stored by the agent.")
    token_id: str = Field(description="Its id (jti): what `token revoke` takes.")
    subject: str
    scopes: list[Scope]
    expires_at: datetime


class RevokedToken(_Strict):
    token_id: str
    revoked_at: datetime
    expires_at: datetime = Field(
        description="After this the token is refused anyway; the entry is then dropped."
    )
    reason: str
    revoked_by: str


class AuditRecord(_Strict):
    """One mutating call: who made it (a token's subject or node:<id>), what, and its status."""

    id: int
    at: datetime
    principal: str
    token_id: str | None = None
    method: str
    path: str
    status: int
    source: str


class QuarantinedRecord(_Strict):
    """A stored record that no longer passed its checks when read; the agent runs without it."""

    id: int
    at: datetime
    kind: Literal["vm", "migration"] | str
    key: str
    reason: str
    raw: str
