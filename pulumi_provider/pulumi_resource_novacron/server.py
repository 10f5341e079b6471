"""The gRPC ResourceProvider service: decode, dispatch to the resource handler, encode, answer.

Every method turns failures into a status the engine understands (`errors.to_status`): property
errors for bad input, `ErrorResourceInitFailed` for partial state, and plain codes otherwise.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from pulumi_resource_novacron import __version__, config
from pulumi_resource_novacron.cluster import Cluster
from pulumi_resource_novacron.context import OpContext
from pulumi_resource_novacron.diffing import UPDATE
from pulumi_resource_novacron.errors import InitFailed, ProviderError, to_status
from pulumi_resource_novacron.logs import ENGINE, LOG
from pulumi_resource_novacron.mode import DwcpModeResource
from pulumi_resource_novacron.resource import CheckArgs, Resource
from pulumi_resource_novacron.schema import schema_text
from pulumi_resource_novacron.values import decode, encode, has_unknown
from pulumi_resource_novacron.vm.resource import VirtualMachineResource

F = TypeVar("F", bound=Callable[..., Any])
_AUTONAMING = {0: "propose", 1: "enforce", 2: "disable"}


def rpc(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except (ProviderError, InitFailed) as exc:
            LOG.info("%s %s failed: %s", fn.__name__, getattr(request, "urn", ""), exc)
            context.abort_with_status(to_status(exc))
        except Exception as exc:
            LOG.exception("%s failed unexpectedly", fn.__name__)
            context.abort_with_status(to_status(exc))
    return wrapper  # type: ignore[return-value]


def urn_parts(urn: str) -> tuple[str, str]:
    """(type token, name) of `urn:pulumi:stack::project::[parent$]type::name`."""
    parts = urn.split("::")
    return (parts[-2].split("$")[-1], parts[-1]) if len(parts) >= 4 else ("", "")


def _failures(found: dict[str, str]) -> list[provider_pb2.CheckFailure]:
    return [provider_pb2.CheckFailure(property=p, reason=r) for p, r in found.items()]


class NovacronProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.cancel = threading.Event()
        self.resources: dict[str, Resource] = {r.token: r for r in (VirtualMachineResource(), DwcpModeResource())}

    def _resource(self, type_: str, urn: str) -> Resource:
        token = type_ or urn_parts(urn)[0]
        if token not in self.resources:
            raise ProviderError(grpc.StatusCode.INVALID_ARGUMENT,
                                f"unknown resource type {token!r}; this provider serves {', '.join(self.resources)}")
        return self.resources[token]

    def _ctx(self, urn: str) -> OpContext:
        return OpContext(self.cluster, self.cancel, urn)

    # -- plugin ------------------------------------------------------------------------------------
    @rpc
    def Handshake(self, request: provider_pb2.ProviderHandshakeRequest, context: Any) -> Any:
        ENGINE.connect(request.engine_address)
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=True, accept_resources=False, accept_outputs=False,
            supports_autonaming_configuration=True)

    @rpc
    def GetPluginInfo(self, request: empty_pb2.Empty, context: Any) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=__version__)

    @rpc
    def GetSchema(self, request: provider_pb2.GetSchemaRequest, context: Any) -> provider_pb2.GetSchemaResponse:
        if request.subpackage_name:
            raise ProviderError(grpc.StatusCode.NOT_FOUND, f"no subpackage {request.subpackage_name!r}")
        return provider_pb2.GetSchemaResponse(schema=schema_text())

    @rpc
    def Cancel(self, request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        LOG.info("cancel requested: waits stop at their next poll")
        self.cancel.set()
        return empty_pb2.Empty()

    # -- provider configuration --------------------------------------------------------------------
    @rpc
    def CheckConfig(self, request: provider_pb2.CheckRequest, context: Any) -> provider_pb2.CheckResponse:
        inputs, found = config.check(decode(request.news))
        return provider_pb2.CheckResponse(inputs=encode(inputs), failures=_failures(found))

    @rpc
    def DiffConfig(self, request: provider_pb2.DiffRequest, context: Any) -> provider_pb2.DiffResponse:
        olds = decode(request.old_inputs) if request.old_inputs.fields else decode(request.olds)
        changed = config.diff(olds, decode(request.news))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=changed, hasDetailedDiff=True,
            detailedDiff={k: provider_pb2.PropertyDiff(kind=UPDATE) for k in changed})

    @rpc
    def Configure(self, request: provider_pb2.ConfigureRequest, context: Any) -> provider_pb2.ConfigureResponse:
        args = decode(request.args) if request.args.fields else dict(request.variables)
        if has_unknown(args):
            LOG.info("configuration not known yet (preview): agents are not contacted")
            self.cluster = None
        else:
            _, found = config.check(args)
            if found:
                raise ProviderError(grpc.StatusCode.INVALID_ARGUMENT, "invalid provider configuration: "
                                    + "; ".join(f"{k}: {v}" for k, v in found.items()), found)
            self.cluster = Cluster(config.parse(args))
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=True, acceptResources=False,
                                              acceptOutputs=False, supports_autonaming_configuration=True)

    # -- resources ---------------------------------------------------------------------------------
    @rpc
    def Check(self, request: provider_pb2.CheckRequest, context: Any) -> provider_pb2.CheckResponse:
        res = self._resource(request.type, request.urn)
        naming = request.autonaming if request.HasField("autonaming") else None
        args = CheckArgs(
            olds=decode(request.olds), news=decode(request.news), name=request.name or urn_parts(request.urn)[1],
            seed=request.randomSeed, proposed_name=naming.proposed_name if naming else "",
            autonaming=_AUTONAMING.get(naming.mode, "propose") if naming else "propose")
        inputs, found = res.check(args)
        return provider_pb2.CheckResponse(inputs=encode(inputs), failures=_failures(found))

    @rpc
    def Diff(self, request: provider_pb2.DiffRequest, context: Any) -> provider_pb2.DiffResponse:
        res = self._resource(request.type, request.urn)
        return res.diff(decode(request.olds), decode(request.news), list(request.ignoreChanges),
                        self._ctx(request.urn)).response()

    @rpc
    def Create(self, request: provider_pb2.CreateRequest, context: Any) -> provider_pb2.CreateResponse:
        res = self._resource(request.type, request.urn)
        id_, outs = res.create(self._ctx(request.urn), decode(request.properties), request.timeout, request.preview)
        return provider_pb2.CreateResponse(id=id_, properties=encode(outs))

    @rpc
    def Read(self, request: provider_pb2.ReadRequest, context: Any) -> provider_pb2.ReadResponse:
        res = self._resource(request.type, request.urn)
        id_, outs, ins = res.read(self._ctx(request.urn), request.id, decode(request.properties),
                                  decode(request.inputs))
        return provider_pb2.ReadResponse(id=id_, properties=encode(outs), inputs=encode(ins))

    @rpc
    def Update(self, request: provider_pb2.UpdateRequest, context: Any) -> provider_pb2.UpdateResponse:
        res = self._resource(request.type, request.urn)
        outs = res.update(self._ctx(request.urn), request.id, decode(request.olds), decode(request.news),
                          request.timeout, request.preview)
        return provider_pb2.UpdateResponse(properties=encode(outs))

    @rpc
    def Delete(self, request: provider_pb2.DeleteRequest, context: Any) -> empty_pb2.Empty:
        res = self._resource(request.type, request.urn)
        res.delete(self._ctx(request.urn), request.id, decode(request.properties), request.timeout)
        return empty_pb2.Empty()
