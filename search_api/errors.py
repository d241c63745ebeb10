"""One JSON error shape for every error the API returns: {"error": {status, code, message}}."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import GlossaryError, QueryError
from search_api.searcher import MAX_QUERY_CHARS

logger = logging.getLogger("glossary.errors")

_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    422: "invalid_query",
    429: "rate_limited",
    431: "request_head_too_large",
    500: "internal_error",
    503: "overloaded",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, dict[str, object]]:
    return {"error": {"status": status, "code": code or _CODES.get(status, "error"), "message": message}}


def error_bytes(status: int, message: str) -> bytes:
    """The JSON error body, for the layers below FastAPI (server protocol, middleware)."""
    return json.dumps(error_body(status, message), ensure_ascii=False).encode()


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    messages = []
    for error in exc.errors():
        name = str(error["loc"][-1]) if error.get("loc") else "request"
        kind, given = error["type"], error.get("input")
        if kind == "missing":
            messages.append(f"the query parameter {name!r} is required")
        elif name == "q" and kind in ("string_too_short", "string_pattern_mismatch"):
            messages.append("the query is empty; type a word or a question")
        elif name == "q" and kind == "string_too_long" and isinstance(given, str):
            messages.append(f"the query is {len(given)} characters long; the maximum is {MAX_QUERY_CHARS}")
        else:
            messages.append(f"{name}: {error['msg']} (got {given!r:.40})")
    return "; ".join(messages)


def _allowed(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """The exception's headers; a 405's Allow names HEAD too wherever GET is allowed (see middleware.HeadAsGet)."""
    headers = dict(exc.headers or {})
    allow = headers.get("Allow")
    if exc.status_code == 405 and allow is not None:
        methods = [m.strip() for m in allow.split(",")]
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        headers["Allow"] = ", ".join(methods)
    return headers or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _describe(exc))

    @app.exception_handler(QueryError)
    async def bad_query(request: Request, exc: QueryError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=_allowed(request, exc))

    @app.exception_handler(GlossaryError)
    async def domain_error(request: Request, exc: GlossaryError) -> JSONResponse:
        logger.error("%s %s: %s", request.method, request.url.path[:200], exc)
        return error_response(500, "the server could not answer this request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the client gets the JSON shape, never a traceback.
        return error_response(500, "the server could not answer this request")
