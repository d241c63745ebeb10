"""One JSON error shape for every error the API returns: {"error": {status, code, message}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import GlossaryError, QueryError

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 422: "invalid_query", 500: "internal_error"}


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    body = {"error": {"status": status, "code": code or _CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status)


def _describe(exc: RequestValidationError) -> str:
    messages = []
    for error in exc.errors():
        name = str(error["loc"][-1]) if error.get("loc") else "request"
        if error["type"] == "missing":
            messages.append(f"the query parameter {name!r} is required")
        else:
            messages.append(f"{name}: {error['msg']} (got {error.get('input')!r:.40})")
    return "; ".join(messages)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _describe(exc))

    @app.exception_handler(QueryError)
    async def bad_query(request: Request, exc: QueryError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(GlossaryError)
    async def domain_error(request: Request, exc: GlossaryError) -> JSONResponse:
        return error_response(500, str(exc))
