"""Running the app on uvicorn with the settings the API relies on."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

# A request line may carry a query far over the maximum length; let it reach the app so that
# the client gets the API's JSON error instead of the HTTP parser's bare 400. The h11 parser
# takes this limit (httptools has a fixed one and answers such requests with a bare 400).
MAX_REQUEST_HEAD_BYTES = 1024 * 1024


def uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )
