"""Diagnostics: stderr for the provider's own log, the engine's Log service for what users see.

Warnings the agent returns (e.g. "memory change takes effect at next boot") and progress such as
a migration are sent to the engine against the resource's URN, so `pulumi up` shows them next to
the resource. Everything is redacted first; if the engine cannot be reached, stderr still has it.
"""

from __future__ import annotations

import logging
import sys
import threading

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from pulumi_resource_novacron.redact import REDACTOR, RedactingFilter

LOG = logging.getLogger("pulumi-resource-novacron")
_SEVERITY = {"debug": engine_pb2.DEBUG, "info": engine_pb2.INFO, "warning": engine_pb2.WARNING,
             "error": engine_pb2.ERROR}


def setup(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)  # stdout carries only the port
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOG.propagate = False


class EngineLog:
    """Messages to the engine, delivered before the operation answers (so they show up next to
    it); the first failure disables it (the engine may be gone) and stderr carries on."""

    def __init__(self) -> None:
        self._stub: engine_pb2_grpc.EngineStub | None = None
        self._lock = threading.Lock()

    def connect(self, address: str) -> None:
        if not address:
            return
        with self._lock:
            if self._stub is None:
                self._stub = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))

    def log(self, severity: str, message: str, urn: str = "") -> None:
        message = REDACTOR.redact(message)
        LOG.log(logging.getLevelName(severity.upper()), "%s%s", f"{urn}: " if urn else "", message)
        stub = self._stub
        if stub is not None:
            self._send(stub, _SEVERITY[severity], message, urn)

    def _send(self, stub: engine_pb2_grpc.EngineStub, severity: int, message: str, urn: str) -> None:
        try:
            stub.Log(engine_pb2.LogRequest(severity=severity, message=message, urn=urn), timeout=5)
        except grpc.RpcError as exc:
            LOG.debug("engine log unavailable (%s); using stderr only", exc.code())
            with self._lock:
                self._stub = None


ENGINE = EngineLog()
