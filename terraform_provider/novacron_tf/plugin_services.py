"""The services go-plugin calls besides the provider: health ("plugin"), controller, stdio."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any


def add_plugin_services(server: Any, stubs: Any, shutdown: threading.Event) -> None:
    health_pb, plugin_pb = stubs.health, stubs.plugin

    class Health(stubs.health_grpc.HealthServicer):  # type: ignore[name-defined,misc]
        def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
            known = request.service in ("", "plugin")
            status = health_pb.HealthCheckResponse.SERVING if known else \
                health_pb.HealthCheckResponse.SERVICE_UNKNOWN
            return health_pb.HealthCheckResponse(status=status)

        def Watch(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
            yield self.Check(request, context)
            shutdown.wait()

    class Controller(stubs.plugin_grpc.GRPCControllerServicer):  # type: ignore[name-defined,misc]
        def Shutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
            shutdown.set()
            return plugin_pb.Empty()

    class Stdio(stubs.plugin_grpc.GRPCStdioServicer):  # type: ignore[name-defined,misc]
        """We never write to stdout after the handshake (logs go to stderr), so nothing to stream."""

        def StreamStdio(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
            while not shutdown.wait(1.0) and context.is_active():
                pass
            return
            yield  # a generator: gRPC needs an iterator for a server-streaming method

    stubs.health_grpc.add_HealthServicer_to_server(Health(), server)
    stubs.plugin_grpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stubs.plugin_grpc.add_GRPCStdioServicer_to_server(Stdio(), server)
