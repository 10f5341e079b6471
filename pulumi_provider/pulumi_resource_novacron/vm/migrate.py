"""A change of `node`: ask the agent that owns the VM to live-migrate it, and wait.

POST /api/v1/migrations {vm, destination, options} goes to the source agent (it drives DWCP to
the destination); the SDK's `wait_migration` polls it until the phase is final, within the
engine's budget. A timeout or a Cancel from the engine cancels the migration, which rolls the VM
back to the source.
"""

from __future__ import annotations

import grpc

from novacron_sdk.client import MIGRATION_FINAL, ApiError, MigrationError, NovacronClient
from novacron_sdk.models.migration import Migration, MigrationOptions, MigrationRequest
from pulumi_resource_novacron.cluster import Cluster
from pulumi_resource_novacron.config import AgentRef
from pulumi_resource_novacron.context import OpContext
from pulumi_resource_novacron.deadline import Cancelled, Deadline, Expired
from pulumi_resource_novacron.errors import ProviderError
from pulumi_resource_novacron.translate import api_error
from pulumi_resource_novacron.vm.spec import IN


def no_migration_api(exc: ApiError) -> bool:
    """A 404/405 from the router itself (no such endpoint), not 'no such VM'."""
    return exc.status in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed")


def migrate(ctx: OpContext, cluster: Cluster, source: AgentRef, source_node: str, name: str,
            dest_node: str, options: MigrationOptions, deadline: Deadline, *, dry_run: bool = False) -> None:
    request = MigrationRequest(vm=name, destination=dest_node, options=options)
    with cluster.client(source, deadline.http_timeout()) as c:
        try:
            mig = c.create_migration(request, dry_run=dry_run)
        except ApiError as exc:
            if no_migration_api(exc):
                raise ProviderError(grpc.StatusCode.UNIMPLEMENTED,
                                    f"cannot move VM {name!r} to {dest_node!r}: the agent at {source.endpoint} has "
                                    "no migration API (POST /api/v1/migrations answered 404)",
                                    {"node": "this agent cannot migrate VMs yet"}) from None
            raise api_error(exc, IN, f"migrating VM {name!r} to {dest_node!r}") from None
        if dry_run:
            return
        ctx.log("info", f"migrating VM {name!r} from {source_node} to {dest_node} "
                        f"({'live' if options.live else 'offline'}, migration {mig.id})")

        def still_wanted(m: Migration) -> None:
            if m.phase in MIGRATION_FINAL:
                return
            pct = f", {100 * m.progress.bytes_sent // m.progress.bytes_total}% sent" if m.progress.bytes_total else ""
            deadline.check(f"waiting for migration {m.id} of {name!r} ({m.phase}{pct})")

        try:
            mig = c.wait_migration(mig.id, deadline.end, still_wanted, sleep=deadline.wait)
        except MigrationError as exc:
            if exc.timed_out:
                _cancel(ctx, c, exc.migration, source_node)
                raise Expired(str(exc)) from None
            raise ProviderError(grpc.StatusCode.ABORTED, str(exc)) from None
        except (Expired, Cancelled):
            _cancel(ctx, c, mig, source_node)
            raise
    downtime = mig.progress.downtime_ms
    ctx.log("info", f"VM {name!r} now runs on {dest_node}"
                    + (f" (downtime {downtime:.0f} ms)" if downtime is not None else ""))


def _cancel(ctx: OpContext, client: NovacronClient, mig: Migration, source_node: str) -> None:
    try:
        client.cancel_migration(mig.id)
        ctx.log("warning", f"cancelled migration {mig.id}; the VM stays on {source_node}")
    except ApiError as exc:
        ctx.log("warning", f"could not cancel migration {mig.id}: {exc}")
