"""Failures as the engine understands them: a gRPC status, property errors, and partial state.

`InitFailed` is the important one: when a create or update got part of the way (the VM exists but
did not converge, timed out, or the answer was lost), the provider answers with the
`ErrorResourceInitFailed` detail carrying the VM's id and current state, so the engine records the
VM and the next `pulumi up` updates it instead of creating a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from pulumi.runtime.proto import errors_pb2, provider_pb2, status_pb2

from pulumi_resource_novacron import values
from pulumi_resource_novacron.redact import REDACTOR


class ProviderError(Exception):
    """An error answered with `code`; `properties` maps Pulumi property paths to reasons."""

    def __init__(self, code: grpc.StatusCode, message: str, properties: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.properties = code, message, properties or {}


@dataclass
class InitFailed(Exception):
    """The resource exists in a partial state: the engine must keep `id` and `outputs`."""

    id: str
    outputs: dict[str, Any]
    inputs: dict[str, Any]
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class _Status(grpc.Status):  # type: ignore[misc]
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...] = ()


def to_status(exc: BaseException) -> grpc.Status:
    """The gRPC status for `exc`, its message redacted, with structured details where they help."""
    if isinstance(exc, InitFailed):
        detail = provider_pb2.ErrorResourceInitFailed(
            id=exc.id, properties=values.encode(exc.outputs), inputs=values.encode(exc.inputs),
            reasons=[REDACTOR.redact(r) for r in exc.reasons],
        )
        return _with_details(grpc.StatusCode.UNKNOWN, str(exc), detail)
    if isinstance(exc, ProviderError):
        if not exc.properties:
            return _Status(exc.code, REDACTOR.redact(exc.message))
        detail = errors_pb2.InputPropertiesError(errors=[
            errors_pb2.InputPropertiesError.PropertyError(property_path=p, reason=REDACTOR.redact(r))
            for p, r in exc.properties.items()
        ])
        return _with_details(exc.code, exc.message, detail)
    return _Status(grpc.StatusCode.INTERNAL, REDACTOR.redact(f"{type(exc).__name__}: {exc}"))


def _with_details(code: grpc.StatusCode, message: str, detail: Any) -> grpc.Status:
    packed = any_pb2.Any()
    packed.Pack(detail)
    message = REDACTOR.redact(message)
    rich = status_pb2.Status(code=code.value[0], message=message, details=[packed])
    return _Status(code, message, (("grpc-status-details-bin", rich.SerializeToString()),))
