"""Limits that keep one client (or a crowd) from starving the others: per-client rates and a cap in flight.

Both answer in the API's JSON error shape with `Retry-After`, before any work is done:

- `RateLimit`: per client address (as `ProxyHeadersMiddleware` resolved it from a trusted
  proxy's X-Forwarded-For), with the `limits` library's sliding-window counters kept in
  this process's memory, so with several workers a client may get up to that many times
  the rate; 429 beyond it.
- `InFlightCap`: requests being answered by this process, from any client (503 beyond
  the cap) and from each client (429 beyond its share), so the queue, and with it every
  client's wait, stays short, and one client's backlog never sits in front of the others.

A refusal (429 or 503) is sent only after a pause (`REFUSAL_PAUSE`): a client that ignores
Retry-After and asks again at once would otherwise keep the event loop busy with refusals
alone, and a pause costs the server nothing but a timer.

`/health` passes both: a load balancer's probe must stay fast while the API sheds load.
"""

from __future__ import annotations

import asyncio
import math
import time

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from search_api.errors import error_bytes

UNLIMITED_PATHS = frozenset({"/health"})
REFUSAL_PAUSE = 1.0  # seconds before a 429 or 503 is sent


async def send_error(send: Send, status: int, message: str, retry_after: int) -> None:
    await asyncio.sleep(REFUSAL_PAUSE)
    body = error_bytes(status, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    def __init__(self, app: ASGIApp, limits: list[RateLimitItem]) -> None:
        self.app = app
        self.limits = limits
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        for limit in self.limits:
            if not self.limiter.hit(limit, key):
                reset = self.limiter.get_window_stats(limit, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                message = f"too many requests from {key}: at most {limit}; try again in {wait} s"
                await send_error(send, 429, message, wait)
                return
        await self.app(scope, receive, send)


class InFlightCap:
    def __init__(self, app: ASGIApp, cap: int, per_client: int) -> None:
        self.app = app
        self.cap = cap
        self.per_client = per_client
        self.in_flight = 0  # touched only on the event loop: no lock needed
        self.by_client: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        if self.in_flight >= self.cap:
            await send_error(send, 503, f"the server is busy ({self.cap} requests in flight); try again", 1)
            return
        mine = self.by_client.get(client, 0)
        if mine >= self.per_client:
            message = f"too many requests in flight from {client} (at most {self.per_client}); try again"
            await send_error(send, 429, message, 1)
            return
        self.in_flight += 1
        self.by_client[client] = mine + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            left = self.by_client[client] - 1
            if left:
                self.by_client[client] = left
            else:
                del self.by_client[client]
