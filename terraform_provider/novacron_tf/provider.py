"""The tfplugin6 Provider service: decode, dispatch to a handler, encode, answer diagnostics.

Every RPC answers; none raises into gRPC. Handler failures become diagnostics (with the
attribute path when known), unexpected exceptions become an "internal error" diagnostic with
the exception text, and the full traceback goes to stderr (Terraform's TF_LOG shows it).
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from typing import Any

from novacron_sdk.client import ApiError
from novacron_tf.agents import Agents, parse_config
from novacron_tf.codec import CodecError, decode_json, decode_msgpack, encode_msgpack
from novacron_tf.cty import UNKNOWN
from novacron_tf.diagnostics import (
    Diagnostic,
    DiagnosticsError,
    attribute_path,
    error,
    from_api,
    has_errors,
    to_proto,
)
from novacron_tf.protos import stubs
from novacron_tf.resources import registry
from novacron_tf.resources.base import ApplyFailed, Context
from novacron_tf.schema import Block, Schema, load
from novacron_tf.schema import to_proto as schema_proto

log = logging.getLogger("novacron_tf")


class Provider:
    """Implements tfplugin6.Provider (registered with add_ProviderServicer_to_server)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.pb = stubs().pb
        self.schemas = load()
        self.resources, self.data_sources = registry(self.schemas)
        self.ctx = Context()
        self.env = dict(os.environ if env is None else env)

    def stop(self) -> None:
        self.ctx.stopping.set()
        if self.ctx.agents_ is not None:
            self.ctx.agents_.close()

    # ------------------------------------------------------------ helpers

    def _decode(self, dv: Any, schema: Schema) -> Any:
        if dv is None:
            return None
        if dv.msgpack:
            return decode_msgpack(dv.msgpack, schema.type)
        if dv.json:
            return decode_json(dv.json, schema.type)
        return None

    def _encode(self, value: Any, schema: Schema) -> Any:
        return self.pb.DynamicValue(msgpack=encode_msgpack(value, schema.type))

    def _run(self, what: str, fn: Callable[[], Any], block: Block | None,
             *, partial: bool = False) -> tuple[Any, list[Any]]:
        """Call a handler; returns (result or None, protobuf diagnostics). With `partial`, an
        ApplyFailed comes back as the result so the caller can report the state it left."""
        try:
            return fn(), []
        except ApplyFailed as exc:
            return (exc if partial else None), to_proto(exc.diagnostics, self.pb, block)
        except DiagnosticsError as exc:
            return None, to_proto(exc.diagnostics, self.pb, block)
        except ApiError as exc:
            return None, to_proto(from_api(exc, what), self.pb, block)
        except CodecError as exc:
            return None, to_proto([error("Provider value encoding error", f"{what}: {exc}")], self.pb, block)
        except Exception as exc:  # noqa: BLE001 - the RPC must answer, whatever broke
            log.error("%s failed:\n%s", what, traceback.format_exc())
            return None, to_proto([error("Internal error in the novacron provider",
                                         f"{what}: {type(exc).__name__}: {exc}")], self.pb, block)

    def _lookup(self, table: dict[str, Any], type_name: str, kind: str) -> Any:
        handler = table.get(type_name)
        if handler is None:
            raise DiagnosticsError([error(f"Unknown {kind} type", f"{type_name!r} is not provided by novacron")])
        return handler

    # ------------------------------------------------------------ schema & config

    def GetProviderSchema(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        pb = self.pb
        return pb.GetProviderSchema.Response(
            provider=schema_proto(self.schemas.provider, pb),
            resource_schemas={k: schema_proto(v, pb) for k, v in self.schemas.resources.items()},
            data_source_schemas={k: schema_proto(v, pb) for k, v in self.schemas.data_sources.items()},
        )

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        schema = self.schemas.provider

        def check() -> list[Diagnostic]:
            config = _assume_known(self._decode(request.config, schema) or {})
            _, diags = parse_config(config, self.env)
            return diags

        diags, errs = self._run("validating the provider configuration", check, schema.block)
        return self.pb.ValidateProviderConfig.Response(diagnostics=errs or to_proto(diags or [], self.pb,
                                                                                      schema.block))

    def ConfigureProvider(self, request: Any, context: Any) -> Any:  # noqa: N802
        schema = self.schemas.provider

        def configure() -> list[Diagnostic]:
            config = self._decode(request.config, schema) or {}
            refs, diags = parse_config(config, self.env)
            if not has_errors(diags):
                self.ctx.agents_ = Agents(refs)
            return diags

        diags, errs = self._run("configuring the provider", configure, schema.block)
        return self.pb.ConfigureProvider.Response(diagnostics=errs or to_proto(diags or [], self.pb, schema.block))

    def StopProvider(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.ctx.stopping.set()
        return self.pb.StopProvider.Response()

    # ------------------------------------------------------------ validation

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        def check() -> list[Diagnostic]:
            handler = self._lookup(self.resources, request.type_name, "resource")
            return handler.validate(self._decode(request.config, handler.schema) or {})

        block = _block_of(self.resources, request.type_name)
        diags, errs = self._run(f"validating {request.type_name}", check, block)
        return self.pb.ValidateResourceConfig.Response(diagnostics=errs or to_proto(diags or [], self.pb, block))

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        def check() -> list[Diagnostic]:
            handler = self._lookup(self.data_sources, request.type_name, "data source")
            return handler.validate(self._decode(request.config, handler.schema) or {})

        block = _block_of(self.data_sources, request.type_name)
        diags, errs = self._run(f"validating data.{request.type_name}", check, block)
        return self.pb.ValidateDataResourceConfig.Response(diagnostics=errs or to_proto(diags or [], self.pb,
                                                                                         block))

    def UpgradeResourceState(self, request: Any, context: Any) -> Any:  # noqa: N802
        def upgrade() -> Any:
            handler = self._lookup(self.resources, request.type_name, "resource")
            if not request.raw_state.json:
                raise DiagnosticsError([error("Unsupported state format", "only JSON state can be upgraded")])
            state = decode_json(request.raw_state.json, handler.schema.type, lenient=True)
            return self._encode(state, handler.schema)

        value, errs = self._run(f"upgrading {request.type_name} state", upgrade,
                                _block_of(self.resources, request.type_name))
        return self.pb.UpgradeResourceState.Response(upgraded_state=value, diagnostics=errs)

    # ------------------------------------------------------------ managed resources

    def ReadResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = self.resources.get(request.type_name)

        def read() -> Any:
            h = self._lookup(self.resources, request.type_name, "resource")
            state = self._decode(request.current_state, h.schema)
            new = h.read(self.ctx, state) if state is not None else None
            return self._encode(new, h.schema)

        value, errs = self._run(f"reading {request.type_name}", read, _block_of(self.resources, request.type_name))
        if value is None and handler is not None:  # on error keep what Terraform had
            value = request.current_state
        return self.pb.ReadResource.Response(new_state=value, diagnostics=errs, private=request.private)

    def PlanResourceChange(self, request: Any, context: Any) -> Any:  # noqa: N802
        def plan() -> Any:
            h = self._lookup(self.resources, request.type_name, "resource")
            prior = self._decode(request.prior_state, h.schema)
            proposed = self._decode(request.proposed_new_state, h.schema)
            config = self._decode(request.config, h.schema)
            return h, h.plan(self.ctx, prior, config, proposed)

        block = _block_of(self.resources, request.type_name)
        result, errs = self._run(f"planning {request.type_name}", plan, block)
        if result is None:
            return self.pb.PlanResourceChange.Response(diagnostics=errs)
        h, p = result
        return self.pb.PlanResourceChange.Response(
            planned_state=self._encode(p.planned, h.schema),
            requires_replace=[attribute_path(path, self.pb, block) for path in p.requires_replace],
            diagnostics=to_proto(p.diagnostics, self.pb, block),
        )

    def ApplyResourceChange(self, request: Any, context: Any) -> Any:  # noqa: N802
        holder: dict[str, Any] = {}

        def apply() -> Any:
            h = holder["h"] = self._lookup(self.resources, request.type_name, "resource")
            prior = holder["prior"] = self._decode(request.prior_state, h.schema)
            planned = self._decode(request.planned_state, h.schema)
            config = self._decode(request.config, h.schema)
            return self._encode(h.apply(self.ctx, prior, planned, config), h.schema)

        block = _block_of(self.resources, request.type_name)
        value, errs = self._run(f"applying {request.type_name}", apply, block, partial=True)
        if isinstance(value, ApplyFailed):
            value = self._encode(value.state, holder["h"].schema)
        elif value is None and "h" in holder:  # failed before anything changed: keep the prior object
            value = request.prior_state if request.prior_state.msgpack else self._encode(None, holder["h"].schema)
        return self.pb.ApplyResourceChange.Response(new_state=value, diagnostics=errs)

    def ImportResourceState(self, request: Any, context: Any) -> Any:  # noqa: N802
        def do_import() -> Any:
            h = self._lookup(self.resources, request.type_name, "resource")
            state = h.import_state(self.ctx, request.id)
            return [self.pb.ImportResourceState.ImportedResource(type_name=request.type_name,
                                                                 state=self._encode(state, h.schema))]

        imported, errs = self._run(f"importing {request.type_name} {request.id!r}", do_import, None)
        return self.pb.ImportResourceState.Response(imported_resources=imported or [], diagnostics=errs)

    # ------------------------------------------------------------ data sources

    def ReadDataSource(self, request: Any, context: Any) -> Any:  # noqa: N802
        def read() -> Any:
            h = self._lookup(self.data_sources, request.type_name, "data source")
            config = self._decode(request.config, h.schema) or {}
            return self._encode(h.read(self.ctx, config), h.schema)

        block = _block_of(self.data_sources, request.type_name)
        value, errs = self._run(f"reading data.{request.type_name}", read, block)
        return self.pb.ReadDataSource.Response(state=value, diagnostics=errs)


def _block_of(table: dict[str, Any], type_name: str) -> Block | None:
    handler = table.get(type_name)
    return handler.schema.block if handler is not None else None


def _assume_known(value: Any, key: str = "") -> Any:
    """Validation sees unknowns (values from other resources): an unknown URL passes, others drop."""
    if value is UNKNOWN:
        return "http://deferred.invalid" if key == "endpoint" else None
    if isinstance(value, dict):
        return {k: _assume_known(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_assume_known(v) for v in value]
    return value
