"""Running the app on uvicorn: limits at the connection level, and several worker processes.

The connection limits live in `GuardedH11Protocol`, uvicorn's h11 protocol with:

- a deadline for receiving a whole request (head and any body), counted from the connection
  or from the previous answer, so half-sent and idle connections are closed;
- a small request-head limit, answered with 431 in the API's JSON error shape (a 500-character
  query fits many times over: even percent-encoded four-byte characters take 6 kB);
- JSON instead of uvicorn's plain-text 400 for a malformed request.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
import signal
import socket
import time
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from search_api.errors import error_bytes
from search_api.middleware import SECURITY_HEADERS
from search_api.settings import Settings, get_settings

logger = logging.getLogger("glossary.server")

QUERY_LIMIT = "a query is at most 500 characters"


class GlossaryConfig(uvicorn.Config):
    """uvicorn's config plus the request deadline that GuardedH11Protocol enforces."""

    def __init__(self, app: Any, head_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.head_timeout = head_timeout


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request and JSON errors."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._deadline: Any = None
        self._watch_request()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            self._unset_keepalive_if_required()
            self._send_error_and_close(431, f"the request head is over {self._head_limit()} bytes; {QUERY_LIMIT}")
            return
        super().data_received(data)
        self._watch_request()

    def _head_limit(self) -> int:
        return self.config.h11_max_incomplete_event_size or 16384

    def _head_too_large(self, data: bytes) -> bool:
        """h11 checks its limit only while a head is incomplete; a whole head in one read slips past it."""
        buffered = self.conn.trailing_data[0] + data  # empty between requests; at most one head otherwise
        end = buffered.find(b"\r\n\r\n")
        return (len(buffered) if end < 0 else end + 4) > self._head_limit()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _watch_request(self) -> None:
        """A deadline runs while the client owes us a request (idle, or part of a head or body sent)."""
        receiving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()
        if receiving and self._deadline is None:
            timeout = getattr(self.config, "head_timeout", 10.0)
            self._deadline = self.loop.call_later(timeout, self._request_too_slow)
        elif not receiving:
            self._stop_deadline()

    def _stop_deadline(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        too_large = len(self.conn.trailing_data[0]) > self._head_limit()
        if too_large:
            self._send_error_and_close(431, f"the request head is over {self._head_limit()} bytes; {QUERY_LIMIT}")
        else:
            self._send_error_and_close(400, "malformed HTTP request")

    def _send_error_and_close(self, status: int, message: str) -> None:
        """Answer in the API's JSON error shape, written directly: h11 may not have seen a request."""
        body = error_bytes(status, message)
        head = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
            *(f"{name.decode()}: {value.decode()}" for name, value in SECURITY_HEADERS),
        ]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.transport.close()


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus this project's loggers (access log, reloads) on stderr."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["glossary"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def uvicorn_config(
    app: FastAPI | str, host: str, port: int, settings: Settings | None = None, **extra: Any
) -> GlossaryConfig:
    settings = settings or get_settings()
    return GlossaryConfig(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=log_config(),
        proxy_headers=False,  # uvicorn would trust 127.0.0.1's X-Forwarded-For; GLOSSARY_TRUSTED_PROXIES decides
        access_log=False,  # the app's AccessLog writes one line per request, with the client proxies resolved
        http=GuardedH11Protocol,
        h11_max_incomplete_event_size=settings.max_head_bytes,
        timeout_keep_alive=settings.keepalive_timeout,
        head_timeout=settings.head_timeout,
        **extra,
    )


def worker_app() -> FastAPI:
    """The app of one worker process: settings from GLOSSARY_* variables, the index loaded in its lifespan."""
    from search_api.app import create_app

    return create_app(get_settings())


def run(settings: Settings, app: FastAPI | None = None) -> None:
    """Serve until stopped: in this process when one worker is asked for (or `app` is given), else in several."""
    if settings.workers == 1 or app is not None:
        from search_api.app import create_app

        uvicorn.Server(uvicorn_config(app or create_app(settings), settings.host, settings.port, settings)).run()
        return
    # Each worker reads its settings from the environment: pass on what the command line chose.
    os.environ.update(
        {"GLOSSARY_INDEX": str(settings.index), "GLOSSARY_HOST": settings.host, "GLOSSARY_PORT": str(settings.port)}
    )
    reuseport_socket(settings.host, settings.port).close()  # the port is free (else: one clear error, here)
    Supervisor(settings.workers).run()


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A socket of its own for one worker: with SO_REUSEPORT the kernel spreads new connections over the
    workers' sockets. (One shared socket would not: the first worker to wake accepts a whole burst.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"error: cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def serve_worker() -> None:
    """One worker process: its own socket on the shared port, uvicorn, the app loading the index."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # not the supervisor's handlers: uvicorn sets its own
        signal.signal(sig, signal.SIG_DFL)
    settings = get_settings()
    config = uvicorn_config("search_api.server:worker_app", settings.host, settings.port, settings, factory=True)
    uvicorn.Server(config).run(sockets=[reuseport_socket(settings.host, settings.port)])


class Supervisor:
    """Starts the workers, starts another when one dies, and stops them all on SIGINT or SIGTERM."""

    RESTART_PAUSE = 1.0
    GIVE_UP_AFTER = 5  # workers in a row that died within STARTUP_SECONDS of starting

    STARTUP_SECONDS = 30.0
    POLL_SECONDS = 0.2  # how often the workers are checked, and the longest a stop waits to be noticed

    def __init__(self, workers: int) -> None:
        # Forked from a supervisor that has imported the app and started no thread: a worker starts
        # without importing everything again (about a second of CPU each), and loads only the index.
        import onnxruntime  # noqa: F401 - what loading the index imports, likewise
        import tokenizers  # noqa: F401

        import search_api.app  # noqa: F401 - imported here, once, for the workers

        self.context = multiprocessing.get_context("fork")
        self.workers = workers
        # A plain flag, set by the signal handlers: a threading.Event would deadlock if a signal came
        # while this thread held the Event's own lock (inside wait), since set() takes that lock too.
        self.stopping = False
        self.processes: list[tuple[multiprocessing.process.BaseProcess, float]] = []

    def start_worker(self) -> tuple[multiprocessing.process.BaseProcess, float]:
        process = self.context.Process(target=serve_worker, name="glossary-worker")
        process.start()
        return process, time.monotonic()

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.request_stop)
        self.processes = [self.start_worker() for _ in range(self.workers)]
        early_deaths = 0
        while not self.stopping:
            time.sleep(self.POLL_SECONDS)  # a signal's handler runs during the sleep, which then continues
            if self.stopping:
                break
            for number, (process, started) in enumerate(self.processes):
                if process.is_alive():
                    continue
                lived = time.monotonic() - started
                early_deaths = early_deaths + 1 if lived < self.STARTUP_SECONDS else 0
                logger.error("worker %s exited with code %s after %.0f s", process.pid, process.exitcode, lived)
                if early_deaths >= self.GIVE_UP_AFTER:
                    logger.error("workers keep dying as they start; stopping")
                    self.stopping = True
                    break
                time.sleep(self.RESTART_PAUSE)
                self.processes[number] = self.start_worker()
        self.shutdown()

    def request_stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        for process, _ in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process, _ in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()
