"""Plain ASGI middleware at the edge of the API: HEAD, security headers, JSON CORS errors, access log."""

from __future__ import annotations

import logging
import time

from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search_api.errors import error_bytes

access_logger = logging.getLogger("glossary.access")

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]


class HeadAsGet:
    """Answer HEAD like GET, without the body (FastAPI's GET routes do not take HEAD themselves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, add_headers)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a refused preflight answered in the API's JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")  # e.g. "Disallowed CORS origin"
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        return Response(
            error_bytes(response.status_code, f"CORS preflight refused: {reason}"),
            status_code=response.status_code,
            headers=headers,
            media_type="application/json",
        )


class AccessLog:
    """One line per request: client, method, path, status, milliseconds (the client as proxies resolved it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [500]
        logged: list[bool] = [False]

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                logged[0] = True  # logged before the client can see the end of the answer
                _log_request(scope, status[0], (time.perf_counter() - started) * 1000)
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            if not logged[0]:
                _log_request(scope, status[0], (time.perf_counter() - started) * 1000)


def _log_request(scope: Scope, status: int, ms: float) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    target = path + ("?" + query.decode("latin-1") if query else "")
    if len(target) > 200:
        target = target[:200] + f"...({len(target)} chars)"
    access_logger.info('%s "%s %s" %d %.1f ms', client[0] if client else "-", scope.get("method"), target, status, ms)
