"""novacron:index:DwcpMode — one agent's data-plane mode and v3 feature flags (a singleton).

The id is the node_id. Inputs left out keep the agent's current value (as PUT /api/v1/mode does);
outputs always show the effective value of every setting, so Diff compares a declared setting
with what the data plane really runs. Deleting returns the node to automatic detection; the
feature flags stay as they are (there is no "unset" for them).
"""

from __future__ import annotations

from typing import Any

from novacron_sdk.client import ApiError
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_sdk.models.node import NodeRef
from pulumi_resource_novacron.context import OpContext
from pulumi_resource_novacron.diffing import DiffResult
from pulumi_resource_novacron.names import camel
from pulumi_resource_novacron.resource import CheckArgs
from pulumi_resource_novacron.schema import MODE, Shapes
from pulumi_resource_novacron.translate import api_error
from pulumi_resource_novacron.validation import failures
from pulumi_resource_novacron.values import UNKNOWN_VALUE, Unknown, has_unknown, reveal

IN = Shapes.inputs(MODE)
OUT = Shapes.outputs(MODE)
SETTINGS = tuple(camel(n) for n in ModeSettings.model_fields)


def _settings(inputs: dict[str, Any]) -> ModeSettings:
    plain = reveal(inputs)
    return ModeSettings.model_validate(IN.to_agent({k: plain[k] for k in SETTINGS if k in plain}))


def _outputs(status: ModeStatus, node: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(status, n) for k, n in zip(SETTINGS, ModeSettings.model_fields, strict=True)
                           if k != "mode"}
    out["mode"] = status.mode if status.forced else "auto"
    out["node"] = node
    out["status"] = OUT.to_pulumi({"status": status.model_dump(mode="json")})["status"]
    return out


class DwcpModeResource:
    token = MODE

    def check(self, args: CheckArgs) -> tuple[dict[str, Any], dict[str, str]]:
        plain = reveal(args.news)
        data = IN.to_agent({k: v for k, v in plain.items() if k != "node"})
        found = failures(ModeSettings, data, IN)
        node = plain.get("node")
        if node is not None and not isinstance(node, Unknown):
            for path, why in failures(NodeRef, {"node_id": node}, IN).items():
                found[path.replace("nodeId", "node")] = why
        return dict(args.news), found

    def diff(self, olds: dict[str, Any], news: dict[str, Any], ignore: list[str],
             ctx: OpContext | None = None) -> DiffResult:
        old, new = reveal(olds), reveal(news)
        res = DiffResult()
        if "node" in new and (isinstance(new["node"], Unknown) or new["node"] != old.get("node")):
            res.add("node", old.get("node"), new["node"], replace=True)
        for key in SETTINGS:
            want = new.get(key)
            if want is not None and (has_unknown(want) or want != old.get(key)):
                res.add(key, old.get(key), want)
        res.ignore(ignore)
        return res

    def _agent(self, ctx: OpContext, node: Any) -> tuple[str, Any]:
        return ctx.require_cluster().agent_for(node if isinstance(node, str) else None)

    def _apply(self, ctx: OpContext, inputs: dict[str, Any], timeout: float, node: Any) -> tuple[str, dict[str, Any]]:
        node_id, agent = self._agent(ctx, node)
        settings = _settings(inputs)
        with ctx.require_cluster().client(agent, ctx.deadline(timeout).http_timeout()) as c:
            try:
                status = c.put_mode(settings)
            except ApiError as exc:
                raise api_error(exc, IN, f"setting the DWCP mode of {node_id}") from None
        ctx.log("info", f"DWCP on {node_id}: {status.mode}{' (pinned)' if status.forced else ' (detected)'}")
        return node_id, _outputs(status, node_id)

    def _predicted(self, inputs: dict[str, Any]) -> dict[str, Any]:
        plain = reveal(inputs)
        out: dict[str, Any] = {k: plain.get(k, UNKNOWN_VALUE) for k in SETTINGS}
        out["node"] = plain.get("node", UNKNOWN_VALUE)
        out["status"] = UNKNOWN_VALUE
        return out

    def create(self, ctx: OpContext, inputs: dict[str, Any], timeout: float, preview: bool
               ) -> tuple[str, dict[str, Any]]:
        if preview:
            return "", self._predicted(inputs)
        return self._apply(ctx, inputs, timeout, reveal(inputs).get("node"))

    def read(self, ctx: OpContext, id: str, props: dict[str, Any], inputs: dict[str, Any]
             ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        node_id, agent = self._agent(ctx, id)
        with ctx.require_cluster().client(agent, 30) as c:
            try:
                status = c.get_mode()
            except ApiError as exc:
                raise api_error(exc, IN, f"reading the DWCP mode of {node_id}") from None
        out = _outputs(status, node_id)
        if inputs:
            return id, out, inputs
        imported = {k: out[k] for k in SETTINGS}
        imported["node"] = node_id
        return id, out, imported

    def update(self, ctx: OpContext, id: str, olds: dict[str, Any], news: dict[str, Any], timeout: float,
               preview: bool) -> dict[str, Any]:
        if preview:
            return {**self._predicted(news), "node": id}
        return self._apply(ctx, news, timeout, id)[1]

    def delete(self, ctx: OpContext, id: str, props: dict[str, Any], timeout: float) -> None:
        node_id, agent = self._agent(ctx, id)
        with ctx.require_cluster().client(agent, ctx.deadline(timeout).http_timeout()) as c:
            try:
                c.put_mode(ModeSettings(mode="auto"))
            except ApiError as exc:
                raise api_error(exc, IN, f"returning {node_id} to automatic mode detection") from None
        ctx.log("info", f"DWCP on {node_id}: back to automatic detection")

