"""Python SDK over the agent's REST API, used by the CLI and by the Pulumi and Terraform providers.

Faces speak HTTP through this client only; they never import agent internals beyond `models`.
The rules faces share beyond single calls live here too: finding a VM among several agents
(`locate_in_cluster`) and waiting for a migration (`NovacronClient.wait_migration`; the Ansible
collection, which cannot import this package, gets its final phases and wording generated).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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


MIGRATION_FINAL = ("completed", "failed", "cancelled")  # phases after which a migration never changes
MIGRATION_POLL_S = 0.5
MIGRATION_ENDED = "migration {id} of {vm} from {source} to {destination} ended {phase}: {reason}"
MIGRATION_TIMED_OUT = ("migration {id} of {vm} from {source} to {destination} did not finish in time "
                       "(last phase: {phase})")


class MigrationError(Exception):
    """A migration that ended other than `completed`, or was still running at the deadline
    (`timed_out`); `migration` is the last state seen."""

    def __init__(self, migration: Migration, *, timed_out: bool = False) -> None:
        words = {**migration.model_dump(), "reason": migration.error or "no reason given"}
        super().__init__((MIGRATION_TIMED_OUT if timed_out else MIGRATION_ENDED).format(**words))
        self.migration, self.timed_out = migration, timed_out


class NovacronClient:
    def __init__(self, url: str, token: str | None = None, *, ca_cert: str | None = None,
                 verify: bool = True, timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls: bool | str = ca_cert if ca_cert else verify
        self._http = httpx.Client(base_url=self.url, headers=headers, verify=tls, timeout=timeout,
                                  transport=transport)

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

    def wait_migration(self, mig_id: str, deadline: float, on_progress: Callable[[Migration], object] | None = None,
                       *, poll_s: float = MIGRATION_POLL_S, sleep: Callable[[float], object] = time.sleep) -> Migration:
        """Poll migration `mig_id` until it is final; the completed migration, else MigrationError.

        `deadline` is a `time.monotonic()` instant (callers spend one budget across several
        steps). `on_progress` sees every state polled and may raise to stop waiting (a Ctrl-C, an
        engine's cancel); `sleep` waits between polls (an `Event.wait` wakes up early). The
        migration itself is left alone: cancelling it on a timeout is the caller's decision.
        """
        while True:
            mig = self.get_migration(mig_id)
            if on_progress is not None:
                on_progress(mig)
            if mig.phase in MIGRATION_FINAL:
                if mig.phase == "completed":
                    return mig
                raise MigrationError(mig)
            left = deadline - time.monotonic()
            if left <= 0:
                raise MigrationError(mig, timed_out=True)
            sleep(min(poll_s, left))

    def list_migrations(self, vm: str | None = None) -> list[Migration]:
        params = {"vm": vm} if vm else {}
        return [Migration.model_validate(m) for m in self._call("GET", "/api/v1/migrations", params=params)]

    def locate_vm(self, name: str) -> dict[str, str]:
        """Where `name` runs in the cluster: {"vm", "node", "api_url"} (the agent asks its peers).
        To ask several agents that may not be peers of each other: `locate_in_cluster`."""
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


def locate_in_cluster(clients: Sequence[NovacronClient], name: str) -> tuple[int, dict[str, str]] | None:
    """Where VM `name` runs, as the first of `clients` that can tell says: (its index, location).

    Each agent's cluster lookup asks that agent's peers itself; asking the next client is the
    fallback for agents that are not peers of each other, or cannot vouch for their peers (no
    node certificate). An agent without the lookup (no such route, or its migration service not
    running) is asked for the VM itself. None only when every agent answered and none knows the
    VM: when some did not answer, that is an error (status 0) naming them, since an agent that
    did not answer may be the one that has it.
    """
    silent: list[str] = []
    for i, client in enumerate(clients):
        try:
            try:
                return i, client.locate_vm(name)
            except ApiError as exc:
                if exc.status == 404 and exc.field == "vm":
                    continue  # this agent, and every peer it could ask, has no such VM
                if exc.status not in (404, 405, 503):
                    raise
            here = _owned_here(client, name)
            if here is not None:
                return i, here
        except ApiError as exc:
            if exc.status and exc.status < 500:
                raise
            why = (exc.detail or exc.title).removeprefix(f"{client.url}: ")
            silent.append(f"{client.url} ({why})")
    if silent:
        raise ApiError(0, "Cluster lookup incomplete", f"cannot tell where VM {name!r} runs: no agent that "
                       f"answered has it, and these did not answer: {'; '.join(silent)}")
    return None


def _owned_here(client: NovacronClient, name: str) -> dict[str, str] | None:
    vm = client.get_vm(name)
    if vm is None:
        return None
    return {"vm": name, "node": vm.status.node or client.node().node_id, "api_url": client.url}


def _flags(params: dict[str, bool]) -> dict[str, str]:
    return {k: "true" for k, v in params.items() if v}
