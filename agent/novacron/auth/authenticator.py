"""Who is calling and may they: one place that turns an Authorization header into a Principal.

`Bearer <jwt>` is a client token (HS256 with the cluster's shared key, scoped, bounded lifetime,
revocable); `NovaCron-Node <jws>` is a node's per-request assertion (node_assertion.py). 401 when
the credential proves nothing; 403 when it is valid but not for this route (scopes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from novacron.auth import node_assertion
from novacron.auth.errors import AuthError
from novacron.auth.revocations import Revocations
from novacron.auth.scopes import Access, Principal, granted
from novacron.auth.tokens import verify_token
from novacron.secrets.key import SigningKey
from novacron_sdk.errors import Forbidden


@dataclass
class Authenticator:
    key: SigningKey
    issuer: str
    max_ttl_s: int
    revocations: Revocations | None = None
    nodes: node_assertion.NodeVerifier | None = None

    def client(self, token: str) -> Principal:
        claims = verify_token(self.key, token, issuer=self.issuer, max_ttl_s=self.max_ttl_s)
        if self.revocations is not None and self.revocations.is_revoked(claims.token_id):
            raise AuthError("revoked")
        return Principal("client", claims.subject, claims.token_id, granted(claims.scopes))

    def node(self, token: str, *, method: str, target: str, body: bytes) -> Principal:
        """A node's assertion; without a cluster CA (dwcp.tls_ca) this node can check none."""
        if self.nodes is None:
            raise AuthError("not a node of this cluster", scheme=node_assertion.SCHEME)
        try:
            node = self.nodes.verify(token, method=method, target=target, body=body)
        except AuthError as exc:
            raise AuthError(exc.reason, scheme=node_assertion.SCHEME) from None
        return Principal("node", f"node:{node}", node=node)

    @staticmethod
    def authorize(principal: Principal, access: Access, method: str, path: str) -> None:
        """Raise Forbidden unless `principal` may call `method path` (needing `access`)."""
        if access.kind == "node":
            if principal.kind != "node":
                raise Forbidden(
                    "the peer API takes node credentials only (a node certificate of the cluster CA), "
                    "not client tokens", field="Authorization",
                )  # fmt: skip
            return
        if principal.kind != "client":
            raise Forbidden("node credentials are only accepted on /api/v1/peer/", field="Authorization")
        if access.scope not in principal.scopes:
            have = ", ".join(sorted(principal.scopes)) or "none"
            raise Forbidden(
                f"{method} {path} needs the {access.scope!r} scope; this token has: {have} "
                f"(mint one with `novacron token create --scope {access.scope}`)",
                field="Authorization",
            )
