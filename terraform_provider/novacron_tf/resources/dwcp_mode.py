"""novacron_dwcp_mode: pin or release a node's DWCP mode and set its v3 feature flags.

Arguments left out keep the agent's current value (they are read back, so drift shows up);
`mode = "auto"` returns to detection; destroy also returns to detection. `node` picks the agent
and changing it replaces the resource (it is a different node's setting).
"""

from __future__ import annotations

from typing import Any

from novacron_sdk.client import ApiError
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_tf.cty import UNKNOWN
from novacron_tf.diagnostics import Diagnostic, DiagnosticsError, error, from_api
from novacron_tf.planning import plan_block, shape
from novacron_tf.resources.base import ApplyFailed, Context, Plan
from novacron_tf.schema import Schema
from novacron_tf.validation import validate_model

Obj = dict[str, Any]
SETTINGS = tuple(ModeSettings.model_fields)


def settings_from_status(status: ModeStatus) -> Obj:
    doc = status.model_dump(mode="json")
    out = {k: doc.get(k) for k in SETTINGS}
    out["mode"] = status.mode if status.forced else "auto"
    return out


class DwcpModeResource:
    type_name = "novacron_dwcp_mode"

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.status_attrs = [a.name for a in schema.block.attributes
                             if a.computed and not a.optional and a.name != "id"]

    def validate(self, config: Obj) -> list[Diagnostic]:
        return validate_model(ModeSettings, {k: config.get(k) for k in SETTINGS})

    def plan(self, ctx: Context, prior: Obj | None, config: Obj | None, proposed: Obj | None) -> Plan:
        if config is None or proposed is None:
            return Plan(None)
        planned = plan_block(self.schema.block, config, prior)
        replace = []
        if prior is not None and config.get("node") is not None and config["node"] != prior.get("node"):
            replace.append(("node",))
            planned = plan_block(self.schema.block, config, None)
        changing = prior is None or replace or any(
            config.get(k) is not None and config.get(k) != prior.get(k) for k in SETTINGS)
        if changing:
            for name in self.status_attrs:
                planned[name] = UNKNOWN
        try:
            if planned["node"] is UNKNOWN:
                planned["node"] = ctx.agents.node_id(0)
            ctx.agents.index_of(planned["node"])  # fail at plan time for a node we cannot reach
        except ApiError as exc:
            raise DiagnosticsError(from_api(exc, "looking up the node")) from None
        planned["id"] = planned["node"]
        return Plan(planned, replace)

    def apply(self, ctx: Context, prior: Obj | None, planned: Obj | None, config: Obj | None) -> Obj | None:
        agents = ctx.agents
        if planned is None:
            assert prior is not None
            try:
                agents.client(agents.index_of(prior.get("node"))).put_mode(ModeSettings(mode="auto"))
            except ApiError as exc:
                raise ApplyFailed(from_api(exc, "returning the DWCP mode to auto"), prior) from None
            return None
        node = planned.get("node") if isinstance(planned.get("node"), str) else None
        idx = agents.index_of(node)
        wanted = {k: (config or {}).get(k) for k in SETTINGS if (config or {}).get(k) is not None}
        try:
            status = agents.client(idx).put_mode(ModeSettings(**wanted))
        except ApiError as exc:
            raise ApplyFailed(from_api(exc, "setting the DWCP mode"), prior) from None
        return self.to_state(ctx, status, idx)

    def read(self, ctx: Context, state: Obj) -> Obj | None:
        idx = ctx.agents.index_of(state.get("node"))
        return self.to_state(ctx, ctx.agents.client(idx).get_mode(), idx)

    def import_state(self, ctx: Context, import_id: str) -> Obj:
        try:
            idx = ctx.agents.index_of(import_id, path=())
        except DiagnosticsError:
            raise DiagnosticsError([error("Cannot import", f"no configured agent is node {import_id!r}; the "
                                          "import ID of novacron_dwcp_mode is a node id.")]) from None
        return self.to_state(ctx, ctx.agents.client(idx).get_mode(), idx)

    def to_state(self, ctx: Context, status: ModeStatus, idx: int) -> Obj:
        node = ctx.agents.node_id(idx)
        src = {**status.model_dump(mode="json"), **settings_from_status(status),
               "effective_mode": status.mode, "node": node, "id": node}
        return shape(self.schema.block, src)
