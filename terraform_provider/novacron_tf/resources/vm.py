"""novacron_vm: create/update through the agent's declarative PUT, migrate on `node`, graceful destroy."""

from __future__ import annotations

import logging
import time
from typing import Any

from novacron_sdk.client import MIGRATION_FINAL, ApiError, MigrationError
from novacron_sdk.models.migration import Migration, MigrationRequest
from novacron_sdk.models.vm import VM_NAME_PATTERN, VirtualMachine, VirtualMachineSpec
from novacron_tf.cty import UNKNOWN
from novacron_tf.diagnostics import Diagnostic, DiagnosticsError, error, from_api
from novacron_tf.planning import shape
from novacron_tf.resources.base import ApplyFailed, Context, Plan
from novacron_tf.resources.vm_plan import (
    EXTRAS,
    SPEC,
    STATUS,
    changed_fields,
    dry_run_body,
    plan_vm,
    recreate_paths,
    spec_body,
)
from novacron_tf.schema import Schema
from novacron_tf.validation import validate_model

log = logging.getLogger("novacron_tf.vm")
Obj = dict[str, Any]
OBSERVED = tuple(k for k in STATUS if k != "node")  # read-only observations, never requested


class VmResource:
    type_name = "novacron_vm"

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    # ------------------------------------------------------------ validate / plan

    def validate(self, config: Obj) -> list[Diagnostic]:
        return validate_model(VirtualMachineSpec, {k: config.get(k) for k in SPEC}, self.schema.block)

    def plan(self, ctx: Context, prior: Obj | None, config: Obj | None, proposed: Obj | None) -> Plan:
        if config is None or proposed is None:
            return Plan(None)  # destroy
        planned, replace = plan_vm(self.schema.block, prior, config)
        result = Plan(planned, replace)
        changing = changed_fields(prior, planned)
        if not changing:
            return result
        agents = ctx.agents
        try:
            if planned.get("node") is UNKNOWN:  # a new VM goes to the provider's endpoint: say which node
                planned["node"] = agents.node_id(0)
            node = planned.get("node") if isinstance(planned.get("node"), str) else None
            source = agents.index_of(prior.get("node") if prior else node)
            if prior is not None and node is not None and node != prior.get("node") and not replace:
                agents.index_of(node)  # the destination must be reachable through a peer block
                self._check_migration(ctx, source, planned["name"], node)
            body = dry_run_body(planned)
            if body is not None and (prior is None or set(changing) - {"node"}):
                dry = agents.client(source).put_vm(body, dry_run=True, recreate=True)
                for path in recreate_paths(dry.changes) if prior is not None else []:
                    if path not in result.requires_replace:
                        result.requires_replace.append(path)
        except ApiError as exc:
            result.diagnostics += from_api(exc, "checking the change with the agent (dry run)")
        if result.requires_replace and not replace:  # the agent found a rebuild our rules did not
            result.planned, _ = plan_vm(self.schema.block, None, config)
            result.planned["node"] = planned["node"]
        return result

    def _check_migration(self, ctx: Context, source: int, name: str, node: str) -> None:
        try:
            ctx.agents.client(source).create_migration(MigrationRequest(vm=name, destination=node), dry_run=True)
        except ApiError as exc:
            if exc.status in (404, 405) and not exc.field:
                raise DiagnosticsError([error("Migration not available", f"node: the agent on "
                                              f"{ctx.agents.refs[source].endpoint} does not offer migrations "
                                              f"({exc.detail}).", ("node",))]) from None
            raise DiagnosticsError(from_api(exc, f"checking the migration of {name} to {node}", ("node",) if not
                                            exc.field else ())) from None

    # ------------------------------------------------------------ apply

    def apply(self, ctx: Context, prior: Obj | None, planned: Obj | None, config: Obj | None) -> Obj | None:
        if planned is None:
            assert prior is not None
            self._destroy(ctx, prior)
            return None
        if prior is None:
            return self._create(ctx, planned)
        return self._update(ctx, prior, planned)

    def _create(self, ctx: Context, planned: Obj) -> Obj:
        agents, name = ctx.agents, planned["name"]
        node = planned.get("node") if isinstance(planned.get("node"), str) else None
        idx = agents.index_of(node)
        try:
            if agents.client(idx).get_vm(name) is not None:
                raise DiagnosticsError([error("VM already exists", f"name: a VM named {name!r} already exists on "
                                              f"node {agents.node_id(idx)}; import it with `terraform import "
                                              f"<address> {name}` or pick another name.", ("name",))])
            result = agents.client(idx, slow=True).put_vm(spec_body(planned))
            vm = result.vm or agents.client(idx).get_vm(name)
        except ApiError as exc:
            raise DiagnosticsError(from_api(exc, f"creating VM {name}")) from None
        if vm is None:
            raise DiagnosticsError([error("VM vanished", f"the agent created {name} but no longer reports it")])
        return self.to_state(ctx, vm, idx, planned)

    def _update(self, ctx: Context, prior: Obj, planned: Obj) -> Obj:
        agents, name = ctx.agents, prior["name"]
        changing = changed_fields(prior, planned)
        if not changing:  # only Terraform-side knobs (force_stop, keep_storage) changed
            return planned
        idx = agents.index_of(prior.get("node"))
        try:
            if set(changing) - {"node"}:
                agents.client(idx, slow=True).put_vm(spec_body(planned))
        except ApiError as exc:
            raise ApplyFailed(from_api(exc, f"updating VM {name}"), self._refresh(ctx, prior)) from None
        dest = planned.get("node")
        if isinstance(dest, str) and dest != prior.get("node"):
            idx = self._migrate(ctx, idx, name, dest, prior)
        vm = agents.client(idx).get_vm(name)
        if vm is None:
            raise ApplyFailed([error("VM vanished", f"{name} is no longer reported by its agent")], None)
        state = self.to_state(ctx, vm, idx, planned)
        for key in OBSERVED:  # promised in the plan: observations catch up at the next refresh
            if planned.get(key) is not UNKNOWN and state.get(key) != planned.get(key):
                log.info("%s: %s observed as %r, planned %r", name, key, state.get(key), planned.get(key))
                state[key] = planned.get(key)
        return state

    def _migrate(self, ctx: Context, source: int, name: str, dest: str, prior: Obj) -> int:
        agents = ctx.agents
        target = agents.index_of(dest)

        def stop_if_interrupted(mig: Migration) -> None:
            if ctx.stopping.is_set() and mig.phase not in MIGRATION_FINAL:
                raise _Interrupted

        try:
            mig = agents.client(source, slow=True).create_migration(MigrationRequest(vm=name, destination=dest))
            deadline = time.monotonic() + mig.options.timeout_s + 120
            try:
                agents.client(source).wait_migration(mig.id, deadline, stop_if_interrupted, sleep=ctx.stopping.wait)
            except (_Interrupted, MigrationError) as exc:
                if isinstance(exc, MigrationError) and not exc.timed_out:
                    raise ApplyFailed([_migration_error(exc)], self._refresh(ctx, prior)) from None
                agents.client(source).cancel_migration(mig.id)
                detail = (f"node: {exc}; it was cancelled." if isinstance(exc, MigrationError) else
                          f"node: migration {mig.id} of {name} to {dest} was cancelled because Terraform was "
                          "interrupted.")
                raise ApplyFailed([error("Migration cancelled", detail, ("node",))],
                                  self._refresh(ctx, prior)) from None
        except ApiError as exc:
            raise ApplyFailed(from_api(exc, f"migrating {name} to {dest}", ("node",) if not exc.field else ()),
                              self._refresh(ctx, prior)) from None
        return target

    def _refresh(self, ctx: Context, prior: Obj) -> Obj | None:
        try:
            return self.read(ctx, prior)
        except (ApiError, DiagnosticsError):
            return prior

    def _destroy(self, ctx: Context, prior: Obj) -> None:
        agents, name = ctx.agents, prior["name"]
        try:
            found = agents.find_vm(name, prior.get("node"))
            if found is None:
                return
            idx, _ = found
            agents.client(idx, slow=True).delete_vm(name, keep_storage=bool(prior.get("keep_storage")),
                                                    force_stop=bool(prior.get("force_stop")))
        except ApiError as exc:
            if exc.status == 404:
                return
            hint = "" if prior.get("force_stop") else (" Set force_stop = true to power it off when the "
                                                       "graceful shutdown times out.")
            raise ApplyFailed(from_api(exc, f"destroying VM {name}") +
                              ([error("Graceful shutdown did not finish", hint.strip())]
                               if exc.status == 504 and hint else []), prior) from None

    # ------------------------------------------------------------ read / import

    def read(self, ctx: Context, state: Obj) -> Obj | None:
        found = ctx.agents.find_vm(state["name"], state.get("node"))
        if found is None:
            return None
        idx, vm = found
        return self.to_state(ctx, vm, idx, state)

    def import_state(self, ctx: Context, import_id: str) -> Obj:
        import re

        if not re.match(VM_NAME_PATTERN, import_id):
            raise DiagnosticsError([error("Invalid import ID", f"{import_id!r} is not a VM name "
                                          f"(must match {VM_NAME_PATTERN}).")])
        found = ctx.agents.find_vm(import_id)
        if found is None:
            nodes = ", ".join(r.endpoint for r in ctx.agents.refs)
            raise DiagnosticsError([error("Cannot import non-existent VM",
                                          f"No VM named {import_id!r} on any configured agent ({nodes}).")])
        idx, vm = found
        return self.to_state(ctx, vm, idx, {})

    def to_state(self, ctx: Context, vm: VirtualMachine, idx: int, carry: Obj) -> Obj:
        """A VM as the agent reports it, in this schema; Terraform-only knobs carried over."""
        doc = vm.model_dump(mode="json")
        status = doc.pop("status") or {}
        src = {**doc, **status, "id": vm.name}
        src["node"] = status.get("node") or ctx.agents.node_id(idx)
        for key in EXTRAS:
            src[key] = bool(carry.get(key)) if carry.get(key) is not None else False
        return shape(self.schema.block, src)


class _Interrupted(Exception):
    """Terraform asked the provider to stop while a migration ran."""


def _migration_error(exc: MigrationError) -> Diagnostic:
    mig = exc.migration
    return error(f"Migration {mig.phase}", f"node: {exc}. The VM stays on {mig.source}.", ("node",))
