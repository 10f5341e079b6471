"""Build the FastAPI application: routes, problem+json errors, body limit, bearer auth.

The OpenAPI document is generated from the pydantic models, so it is the REST face of the same
contract the Ansible, Pulumi and Terraform faces are checked against.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from novacron import __version__
from novacron.api import problems
from novacron.api.audit import AuditLog
from novacron.api.middleware import AuthMiddleware, BodyLimitMiddleware
from novacron.api.routes import access, health, migrations, mode, node, peer, vms
from novacron.api.services import AgentServices
from novacron.auth.authenticator import Authenticator

API_PREFIX = "/api/v1"
_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def create_app(svc: AgentServices, authenticator: Authenticator) -> FastAPI:
    app = FastAPI(
        title="NovaCron agent API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = svc
    problems.install(app)
    app.include_router(health.router)
    errors = {code: {"description": _title(code), **_PROBLEM} for code in (400, 401, 403, 404, 409, 413, 422, 502, 503, 504)}
    v1 = APIRouter(prefix=API_PREFIX, responses=errors)
    for module in (vms, node, mode, migrations, access, peer):
        v1.include_router(module.router)
    for extra in svc.extra.get("routers", []):
        v1.include_router(extra)
    app.include_router(v1)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(AuthMiddleware, authenticator=authenticator, prefix=API_PREFIX + "/", audit=AuditLog(svc))
    app.add_middleware(BodyLimitMiddleware, max_bytes=svc.config.api.max_body_bytes)
    return app


def _title(code: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(code).phrase


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    comps = doc.setdefault("components", {})
    comps.setdefault("securitySchemes", {})["bearerAuth"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    comps.setdefault("schemas", {})["Problem"] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["title", "status"],
    }
    for path, ops in doc.get("paths", {}).items():
        if path.startswith(API_PREFIX):
            for op in ops.values():
                op["security"] = [{"bearerAuth": []}]
                # FastAPI documents its own 422 as HTTPValidationError; ours is problem+json.
                op.setdefault("responses", {})["422"] = {"description": "Invalid input", **_PROBLEM}
    app.openapi_schema = doc
    return doc
