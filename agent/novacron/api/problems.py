"""RFC 7807 problem documents for every error the API returns.

One place maps exceptions to `application/problem+json`, so handlers just raise. Validation errors
carry `errors: [{field, message}]` with the field's dotted path inside the body or query.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from novacron_sdk.errors import NovacronError
from novacron_sdk.validation import _TEMPLATES, field_path

log = logging.getLogger("novacron.api")
PROBLEM_JSON = "application/problem+json"
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _request_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        template = _TEMPLATES.get(err.get("type", ""))
        try:
            message = template.format(**(err.get("ctx") or {})) if template else None
        except (KeyError, IndexError):
            message = None
        if message is None:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": field_path(loc), "message": message})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _request_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        first = errors[0]["field"] if errors else None
        return problem(422, "Invalid input", detail, field=first, errors=errors)

    @app.exception_handler(NovacronError)
    async def _ours(_: Request, exc: NovacronError) -> JSONResponse:
        detail = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
        return problem(exc.status, exc.title, detail, field=exc.field, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "Internal error", f"{type(exc).__name__}: the agent log has details")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
