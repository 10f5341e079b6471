"""Python SDK over the agent's REST API, used by the CLI and by the Pulumi and Terraform providers.

Faces speak HTTP through this client only; they never import agent internals beyond `models`.
"""

from __future__ import annotations

from typing import Any

import httpx

from novacron_sdk.models.access import AuditRecord, IssuedToken, RevokedToken, TokenRequest
from novacron_sdk.models.migration import Migration, MigrationRequest
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_sdk.models.node import Health, NodeInfo
from novacron_sdk.models.vm import ConvergeResult, VirtualMachine, VirtualMachineSpec


class ApiError(Exception):
    """A problem+json answer (or a transport failure, status 0) from the agent."""

    def __init__(self, status: int, title: str, detail: str, field: str | None = None,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}" if status else f"{title}: {detail}")
        self.status, self.title, self.detail, self.field = status, title, detail, field
        self.errors = errors or []


class NovacronClient:
    def __init__(self, url: str, token: str | None = None, *, ca_cert: str | None = None,
                 verify: bool = True, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls: bool | str = ca_cert if ca_cert else verify
        self._http = httpx.Client(base_url=self.url, headers=headers, verify=tls, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NovacronClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiError(0, "Agent unreachable", f"{self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code,
                str(body.get("title") or response.reason_phrase),
                str(body.get("detail") or response.text[:500]),
                body.get("field"),
                body.get("errors"),
            )
        return response.json() if response.content else None

    # health & node
    def health(self) -> Health:
        return Health.model_validate(self._call("GET", "/health"))

    def node(self) -> NodeInfo:
        return NodeInfo.model_validate(self._call("GET", "/api/v1/node"))

    # VMs
    def list_vms(self, labels: dict[str, str] | None = None) -> list[VirtualMachine]:
        params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
        return [VirtualMachine.model_validate(v) for v in self._call("GET", "/api/v1/vms", params=params)]

    def get_vm(self, name: str) -> VirtualMachine | None:
        try:
            return VirtualMachine.model_validate(self._call("GET", f"/api/v1/vms/{name}"))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def put_vm(self, spec: VirtualMachineSpec | dict[str, Any], *, dry_run: bool = False,
               recreate: bool = False, force_stop: bool = False) -> ConvergeResult:
        body = spec.model_dump(mode="json", exclude_none=True) if isinstance(spec, VirtualMachineSpec) else spec
        params = {"dry_run": dry_run, "recreate": recreate, "force_stop": force_stop}
        return ConvergeResult.model_validate(
            self._call("PUT", f"/api/v1/vms/{body['name']}", json=body, params=_flags(params))
        )

    def delete_vm(self, name: str, *, keep_storage: bool = False, dry_run: bool = False,
                  force_stop: bool = False) -> ConvergeResult:
        params = {"keep_storage": keep_storage, "dry_run": dry_run, "force_stop": force_stop}
        return ConvergeResult.model_validate(self._call("DELETE", f"/api/v1/vms/{name}", params=_flags(params)))

    # mode
    def get_mode(self) -> ModeStatus:
        return ModeStatus.model_validate(self._call("GET", "/api/v1/mode"))

    def put_mode(self, settings: ModeSettings) -> ModeStatus:
        body = settings.model_dump(mode="json", exclude_none=True)
        return ModeStatus.model_validate(self._call("PUT", "/api/v1/mode", json=body))

    # migrations
    def create_migration(self, request: MigrationRequest, *, dry_run: bool = False) -> Migration:
        body = request.model_dump(mode="json", exclude_none=True)
        return Migration.model_validate(
            self._call("POST", "/api/v1/migrations", json=body, params=_flags({"dry_run": dry_run}))
        )

    def get_migration(self, mig_id: str) -> Migration:
        return Migration.model_validate(self._call("GET", f"/api/v1/migrations/{mig_id}"))

    def cancel_migration(self, mig_id: str) -> Migration:
        return Migration.model_validate(self._call("DELETE", f"/api/v1/migrations/{mig_id}"))

    def list_migrations(self, vm: str | None = None) -> list[Migration]:
        params = {"vm": vm} if vm else {}
        return [Migration.model_validate(m) for m in self._call("GET", "/api/v1/migrations", params=params)]

    def locate_vm(self, name: str) -> dict[str, str]:
        """Where `name` runs in the cluster: {"vm", "node", "api_url"} (the agent asks its peers)."""
        return dict(self._call("GET", f"/api/v1/cluster/vms/{name}"))

    # access (admin scope)
    def create_token(self, request: TokenRequest) -> IssuedToken:
        body = request.model_dump(mode="json", exclude_none=True)
        return IssuedToken.model_validate(self._call("POST", "/api/v1/tokens", json=body))

    def revoke_token(self, token_id: str, reason: str = "") -> RevokedToken:
        params = {"reason": reason} if reason else {}
        return RevokedToken.model_validate(self._call("DELETE", f"/api/v1/tokens/{token_id}", params=params))

    def list_revoked_tokens(self) -> list[RevokedToken]:
        return [RevokedToken.model_validate(r) for r in self._call("GET", "/api/v1/tokens/revoked")]

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        return [AuditRecord.model_validate(r) for r in self._call("GET", "/api/v1/audit", params={"limit": limit})]


def _flags(params: dict[str, bool]) -> dict[str, str]:
    return {k: "true" for k, v in params.items() if v}
