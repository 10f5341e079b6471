"""novacron:index:VirtualMachine — Check, Diff, Create, Read, Update, Delete against the agents.

Create and Update wait until libvirt reports the declared power state, within the engine's
timeout. When they fail part-way the VM's id and current state go back to the engine
(`InitFailed`), so the next `up` updates that VM rather than creating a second one. Read finds the
VM wherever it runs and serves `pulumi import <type> <name> <vm-name>`.
"""

from __future__ import annotations

from typing import Any

import grpc

from novacron_sdk.client import ApiError
from pulumi_resource_novacron.cluster import Cluster
from pulumi_resource_novacron.config import AgentRef
from pulumi_resource_novacron.context import PARTIAL, OpContext
from pulumi_resource_novacron.deadline import PROBE_TIMEOUT_S, Cancelled, Expired
from pulumi_resource_novacron.diffing import DiffResult
from pulumi_resource_novacron.errors import InitFailed, ProviderError
from pulumi_resource_novacron.logs import LOG
from pulumi_resource_novacron.redact import REDACTOR
from pulumi_resource_novacron.resource import CheckArgs
from pulumi_resource_novacron.schema import VM
from pulumi_resource_novacron.translate import api_error
from pulumi_resource_novacron.values import has_unknown, mark_secret, reveal, secret_keys, secret_strings
from pulumi_resource_novacron.vm import diff as vm_diff
from pulumi_resource_novacron.vm.migrate import migrate, no_migration_api
from pulumi_resource_novacron.vm.spec import (
    IN,
    OUT,
    import_inputs,
    migration_options,
    outputs,
    predicted,
    problems,
    spec_of,
    split,
)
from pulumi_resource_novacron.vm.waiting import vm_settled

_OFFLINE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
DIFF_DRY_RUN_TIMEOUT_S = 15.0


def spec_name(inputs: dict[str, Any]) -> str:
    return str(reveal(inputs).get("name", "?"))


def as_error(exc: BaseException, doing: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ApiError):
        return api_error(exc, IN, doing)
    if isinstance(exc, Expired):
        return ProviderError(grpc.StatusCode.DEADLINE_EXCEEDED, f"{doing}: {exc}")
    if isinstance(exc, Cancelled):
        return ProviderError(grpc.StatusCode.CANCELLED, f"{doing}: {exc}")
    return ProviderError(grpc.StatusCode.UNKNOWN, f"{doing}: {exc}")


class VirtualMachineResource:
    token = VM

    # -- Check (pure) / Diff (from properties, confirmed by the agent) --------------------------
    def check(self, args: CheckArgs) -> tuple[dict[str, Any], dict[str, str]]:
        news = dict(args.news)
        REDACTOR.learn(secret_strings(news))
        if "name" not in news:
            old_name = args.olds.get("name")
            if args.autonaming == "disable" and not old_name:
                return news, {"name": "required (automatic naming is disabled for this stack)"}
            news["name"] = old_name or args.proposed_name or _auto_name(args.name, args.seed)
        found = problems(news)
        return mark_secret(news, OUT.secret_names()), found

    def diff(self, olds: dict[str, Any], news: dict[str, Any], ignore: list[str],
             ctx: OpContext | None = None) -> DiffResult:
        res = vm_diff.diff(olds, news, ignore)
        if ctx is not None and ctx.cluster is not None and res.detailed and "name" not in res.replaces:
            self._confirm_with_agent(ctx.cluster, res, olds, news, ignore)
        return res

    def _confirm_with_agent(self, cluster: Cluster, res: DiffResult, olds: dict[str, Any], news: dict[str, Any],
                            ignore: list[str]) -> None:
        """Which changes this VM's hypervisor can make in place is the agent's call (growing a disk
        is live on KVM, a rebuild on libvirt's test driver): ask it for a dry run with every apply
        mode spelled out, and keep the rules from the properties if it cannot answer."""
        if has_unknown(news):
            return
        try:
            spec = spec_of(news)
            node = reveal(olds).get("node")
            _, agent = cluster.agent_for(node if isinstance(node, str) else None)
            with cluster.client(agent, DIFF_DRY_RUN_TIMEOUT_S) as c:
                result = c.put_vm(spec, dry_run=True, recreate=True)
        except (ProviderError, ApiError) as exc:
            LOG.debug("diff of %s from properties only: %s", spec_name(news), exc)
            return
        if result.action != "update":  # the VM is not there as the state says: nothing to learn
            return
        res.set_replacements({IN.path(ch.field) for ch in result.changes if ch.apply == "recreate"})
        res.ignore(ignore)
        res.delete_before_replace = True

    # -- Create ------------------------------------------------------------------------------------
    def create(self, ctx: OpContext, inputs: dict[str, Any], timeout: float, preview: bool
               ) -> tuple[str, dict[str, Any]]:
        _, node, _ = split(reveal(inputs))
        if preview:
            return "", self._preview(ctx, inputs, node, None, None)
        cluster = ctx.require_cluster()
        spec = spec_of(inputs)
        node_id, agent = cluster.agent_for(node)
        self._refuse_existing(ctx, cluster, spec.name)
        deadline = ctx.deadline(timeout)
        ctx.log("info", f"creating VM {spec.name!r} on {node_id}")
        try:
            with cluster.client(agent, deadline.http_timeout()) as c:
                for warning in c.put_vm(spec).warnings:
                    ctx.log("warning", warning)
                vm = vm_settled(c, spec.name, spec.state, deadline)
        except PARTIAL as exc:
            raise self._partial(cluster, agent, node_id, spec.name, inputs, as_error(exc, f"creating VM {spec.name!r}")) from None
        return spec.name, outputs(vm, vm.status.node or node_id, inputs)

    def _refuse_existing(self, ctx: OpContext, cluster: Cluster, name: str) -> None:
        try:
            found = cluster.locate(name)
        except ProviderError as exc:
            if exc.code not in _OFFLINE:
                raise
            ctx.log("warning", f"could not check every agent for an existing VM {name!r}: {exc.message}")
            return
        if found is not None:
            raise ProviderError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"VM {name!r} already exists on {found.node}; to manage it with Pulumi, import it: "
                f"`pulumi import {VM} <resource-name> {name}`", {"name": f"VM {name!r} already exists"})

    def _preview(self, ctx: OpContext, inputs: dict[str, Any], node: Any, agent: AgentRef | None,
                 current: str | None) -> dict[str, Any]:
        """Predicted outputs; with known inputs the agent dry-runs them (no change), so a missing
        network or an impossible change fails the preview instead of the update."""
        if has_unknown(inputs) or ctx.cluster is None:
            return predicted(inputs, node or current)
        spec = spec_of(inputs)
        try:
            if node or agent is None:
                target, target_agent = ctx.cluster.agent_for(node)
            else:
                target, target_agent = current or "", agent
            with ctx.cluster.client(target_agent, 60) as c:
                result = c.put_vm(spec, dry_run=True)
            for warning in result.warnings:
                ctx.log("warning", warning)
        except ApiError as exc:
            raise as_error(exc, f"checking VM {spec.name!r} with the agent") from None
        except ProviderError as exc:
            if exc.code not in _OFFLINE:
                raise
            ctx.log("warning", f"preview without the agent's dry run: {exc.message}")
            return predicted(inputs, node or current)
        return predicted(inputs, node or target)

    def _partial(self, cluster: Cluster, agent: AgentRef, node: str, name: str, inputs: dict[str, Any],
                 err: ProviderError) -> Exception:
        """`err`, carrying the VM's state when the VM exists: the engine then records it."""
        try:
            with cluster.client(agent, PROBE_TIMEOUT_S) as c:
                vm = c.get_vm(name)
        except ApiError:
            vm = None
        if vm is None:
            return err
        return InitFailed(name, outputs(vm, vm.status.node or node, inputs), inputs, [err.message])

    # -- Read --------------------------------------------------------------------------------------
    def read(self, ctx: OpContext, id: str, props: dict[str, Any], inputs: dict[str, Any]
             ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        cluster = ctx.require_cluster()
        hint = reveal(props).get("node")
        found = cluster.locate(id, hint if isinstance(hint, str) else None)
        if found is None:
            return "", {}, {}
        if hint and found.node != hint:
            ctx.log("warning", f"VM {id!r} runs on {found.node}, not {hint}: it was moved outside Pulumi")
        basis = inputs or ({"migration": props["migration"]} if props.get("migration") else {})
        out = outputs(found.vm, found.node, basis, secret_keys(props))
        return id, out, inputs if inputs else import_inputs(found.vm)

    # -- Update ------------------------------------------------------------------------------------
    def update(self, ctx: OpContext, id: str, olds: dict[str, Any], news: dict[str, Any], timeout: float,
               preview: bool) -> dict[str, Any]:
        _, node, _ = split(reveal(news))
        old_node = reveal(olds).get("node")
        cluster = ctx.require_cluster()
        if preview:
            return self._preview_update(ctx, cluster, id, olds, news, node, old_node)
        spec = spec_of(news)
        deadline = ctx.deadline(timeout)
        found = cluster.locate(id, old_node)
        if found is None:
            raise ProviderError(grpc.StatusCode.NOT_FOUND,
                                f"VM {id!r} is on no agent any more; `pulumi refresh` drops it from the state, "
                                "then `pulumi up` creates it again")
        owner_node, owner = found.node, found.agent
        try:
            if node and node != owner_node:
                dest_node, dest = cluster.agent_for(node)
                migrate(ctx, cluster, owner, owner_node, id, dest_node, migration_options(news), deadline)
                owner_node, owner = dest_node, dest
            with cluster.client(owner, deadline.http_timeout()) as c:
                for warning in c.put_vm(spec).warnings:
                    ctx.log("warning", warning)
                vm = vm_settled(c, id, spec.state, deadline)
        except PARTIAL as exc:
            raise self._update_failure(cluster, id, owner_node, news, olds, as_error(exc, f"updating VM {id!r}"),
                                       exc) from None
        return outputs(vm, vm.status.node or owner_node, news)

    def _preview_update(self, ctx: OpContext, cluster: Cluster, id: str, olds: dict[str, Any],
                        news: dict[str, Any], node: Any, old_node: Any) -> dict[str, Any]:
        if has_unknown(news):
            return predicted(news, node or old_node)
        try:
            found = cluster.locate(id, old_node)
        except ProviderError as exc:
            if exc.code not in _OFFLINE:
                raise
            ctx.log("warning", f"preview without the agent's dry run: {exc.message}")
            return predicted(news, node or old_node)
        if found is None:
            return predicted(news, node or old_node)
        if node and node != found.node:
            dest_node, _ = cluster.agent_for(node)
            try:
                migrate(ctx, cluster, found.agent, found.node, id, dest_node, migration_options(news),
                        ctx.deadline(60), dry_run=True)
            except ProviderError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                ctx.log("warning", exc.message)
        return self._preview(ctx, news, node, found.agent, found.node)

    def _update_failure(self, cluster: Cluster, id: str, node: str, news: dict[str, Any], olds: dict[str, Any],
                        err: ProviderError, exc: BaseException) -> Exception:
        """A refusal (4xx) changed nothing: plain error, the state stays. Anything else may have
        changed the VM: report where it is now so the next `up` continues from there."""
        if isinstance(exc, ApiError) and 400 <= exc.status < 500 and not no_migration_api(exc):
            return err
        if isinstance(exc, ProviderError) and exc.code in (grpc.StatusCode.INVALID_ARGUMENT,
                                                           grpc.StatusCode.UNIMPLEMENTED):
            return err
        try:
            found = cluster.locate(id, node)
        except (ProviderError, ApiError):
            found = None
        if found is None:
            return err
        return InitFailed(id, outputs(found.vm, found.node, news, secret_keys(olds)), news, [err.message])

    # -- Delete ------------------------------------------------------------------------------------
    def delete(self, ctx: OpContext, id: str, props: dict[str, Any], timeout: float) -> None:
        cluster = ctx.require_cluster()
        hint = reveal(props).get("node")
        found = cluster.locate(id, hint if isinstance(hint, str) else None)
        if found is None:
            ctx.log("info", f"VM {id!r} is already gone")
            return
        deadline = ctx.deadline(timeout)
        ctx.log("info", f"deleting VM {id!r} on {found.node}")
        try:
            with cluster.client(found.agent, deadline.http_timeout()) as c:
                try:
                    c.delete_vm(id, force_stop=True)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                while c.get_vm(id) is not None:
                    deadline.sleep(0.5, f"waiting for VM {id!r} to be deleted")
        except PARTIAL as exc:
            raise as_error(exc, f"deleting VM {id!r}") from None


def _auto_name(resource_name: str, seed: bytes) -> str:
    """Pulumi-style automatic name: the resource name and a suffix stable for this resource."""
    suffix = (seed or resource_name.encode()).hex()[:7]
    return f"{resource_name[:54]}-{suffix}"

