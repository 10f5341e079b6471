"""Agent answers (problem+json `ApiError`s) translated into provider errors users can act on.

The agent names a field as a dotted snake_case path (`disks.0.base_image`); the user wrote
`disks[0].baseImage`, so that is what the error names.
"""

from __future__ import annotations

import grpc

from novacron_sdk.client import ApiError
from pulumi_resource_novacron.errors import ProviderError
from pulumi_resource_novacron.schema import Shapes

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def api_error(exc: ApiError, shapes: Shapes | None, doing: str = "") -> ProviderError:
    where = f"{doing}: " if doing else ""
    if exc.status == 0:
        return ProviderError(grpc.StatusCode.UNAVAILABLE, f"{where}agent unreachable: {exc.detail}")
    if exc.status == 401:
        return ProviderError(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{where}the agent rejected the token ({exc.detail}); mint a new one with `novacron token create` "
            "and set it with `pulumi config set --secret novacron:token <token>`",
        )
    code = _CODES.get(exc.status, grpc.StatusCode.UNKNOWN)
    properties: dict[str, str] = {}
    if shapes is not None:
        for err in exc.errors or []:
            if err.get("field"):
                properties[shapes.path(err["field"])] = str(err.get("message") or exc.detail)
        if exc.field and not properties:
            properties[shapes.path(exc.field)] = exc.detail
    detail = exc.detail
    if shapes is not None and exc.field:
        pulumi_path = shapes.path(exc.field)
        detail = detail.replace(f"{exc.field}:", f"{pulumi_path}:", 1) if detail.startswith(exc.field) else detail
        if not detail.startswith(pulumi_path):
            detail = f"{pulumi_path}: {detail}"
    return ProviderError(code, f"{where}{exc.status} {exc.title}: {detail}", properties)
