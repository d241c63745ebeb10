"""The service's limits over real HTTP (uvicorn on 127.0.0.1, the real model, the small test glossary).

Connection deadlines, the request-head limit, per-client rate limits (with and without a trusted
proxy), the in-flight cap, and /health staying outside all of them.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from conftest import LiveServer, serve_in_thread

from search_api.searcher import Searcher
from search_api.settings import Settings


@contextmanager
def live(searcher: Any, **values: Any) -> Iterator[LiveServer]:
    settings = Settings(**{"rate_limit": "", "reload_interval": 0, **values})
    server = serve_in_thread(searcher, settings)
    try:
        yield next(server)
    finally:
        server.close()


def address(server: LiveServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response's head and body (the body as long as its Content-Length says)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def seconds_until_closed(sock: socket.socket, limit: float = 10) -> float:
    """How long until the server closes the connection (reads until EOF)."""
    started = time.monotonic()
    sock.settimeout(limit)
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_idle_and_half_sent_connections_are_closed_at_the_deadline(mini_searcher: Searcher) -> None:
    with live(mini_searcher, head_timeout=1.0, keepalive_timeout=1) as server:
        idle, half = socket.create_connection(address(server)), socket.create_connection(address(server))
        with idle, half:
            half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert seconds_until_closed(idle) < 3
            assert seconds_until_closed(half) < 3


def test_a_slow_second_request_on_a_kept_alive_connection_is_closed(mini_searcher: Searcher) -> None:
    with (
        live(mini_searcher, head_timeout=1.0, keepalive_timeout=5) as server,
        socket.create_connection(address(server)) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b'"status":"ok"' in read_response(sock)[1]
        for piece in (b"GET /he", b"alth HTTP/1.1\r\n", b"Host: x\r\n"):  # dripped, never finished
            sock.sendall(piece)
            time.sleep(0.3)
        assert seconds_until_closed(sock) < 2


def test_a_head_over_the_limit_is_a_json_431_from_the_server_layer(mini_searcher: Searcher) -> None:
    with live(mini_searcher) as server:
        connection = http.client.HTTPConnection(*address(server), timeout=30)
        connection.request("GET", "/search?q=" + "x" * 100_000)
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        assert response.status == 431 and body["error"]["code"] == "request_head_too_large"
        assert "a query is at most 500 characters" in body["error"]["message"]
        assert response.headers["x-content-type-options"] == "nosniff"
        # The longest query allowed, in four-byte characters, fits the head limit with room to spare.
        longest = httpx.get(f"{server.url}/search", params={"q": "🙂" * 500, "k": 50})
        assert longest.status_code == 200 and longest.json()["query"] == "🙂" * 500


def test_malformed_requests_get_the_json_error_shape(mini_searcher: Searcher) -> None:
    with live(mini_searcher) as server:
        with socket.create_connection(address(server)) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
            head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
        assert json.loads(body)["error"] == {"status": 400, "code": "bad_request", "message": "malformed HTTP request"}


def test_one_client_is_rate_limited_with_retry_after_and_health_is_not(mini_searcher: Searcher) -> None:
    with live(mini_searcher, rate_limit="5/hour;100/day") as server, httpx.Client(base_url=server.url) as client:
        codes = [client.get("/suggest", params={"q": "drop"}).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
        limited = client.get("/suggest", params={"q": "drop"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        assert all(client.get("/health").status_code == 200 for _ in range(20))


def test_clients_behind_a_trusted_proxy_are_told_apart_by_x_forwarded_for(mini_searcher: Searcher) -> None:
    limit = {"rate_limit": "3/minute"}
    with live(mini_searcher, trusted_proxies=["127.0.0.1"], **limit) as server, httpx.Client() as client:

        def status(forwarded_for: str) -> int:
            headers = {"X-Forwarded-For": forwarded_for}
            return client.get(f"{server.url}/terms/dropout", headers=headers).status_code

        assert [status("198.51.100.7") for _ in range(4)] == [200, 200, 200, 429]
        assert status("203.0.113.9") == 200  # another client behind the same proxy
    with live(mini_searcher, **limit) as server, httpx.Client() as client:  # no trusted proxy: the header is ignored
        codes = [
            client.get(f"{server.url}/terms/dropout", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
            for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]


class SlowSearcher:
    """The real searcher, answering searches only after a pause (to hold requests in flight)."""

    def __init__(self, searcher: Searcher, pause: float) -> None:
        self._searcher, self._pause = searcher, pause

    def __getattr__(self, name: str) -> Any:
        return getattr(self._searcher, name)

    def answer(self, query: str, k: int = 10, **options: Any) -> Any:
        if query != "warm up":
            time.sleep(self._pause)
        return self._searcher.answer(query, k, **options)


def test_requests_beyond_the_in_flight_cap_get_503_and_health_stays_fast(mini_searcher: Searcher) -> None:
    with live(SlowSearcher(mini_searcher, 1.5), max_in_flight=2) as server:
        results: list[httpx.Response] = []

        def search() -> None:
            results.append(httpx.get(f"{server.url}/search", params={"q": "dropout"}, timeout=30))

        threads = [threading.Thread(target=search) for _ in range(5)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        started = time.perf_counter()
        health = httpx.get(f"{server.url}/health")
        health_ms = (time.perf_counter() - started) * 1000
        for thread in threads:
            thread.join()
        assert health.status_code == 200 and health_ms < 250
        assert sorted(r.status_code for r in results) == [200, 200, 503, 503, 503]
        shed = next(r for r in results if r.status_code == 503)
        assert shed.headers["retry-after"] == "1" and shed.json()["error"]["code"] == "overloaded"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_has_one_line_per_request(mini_searcher: Searcher) -> None:
    handler = Lines()
    with live(mini_searcher) as server:  # uvicorn configures logging as it starts: listen after that
        logging.getLogger("glossary.access").addHandler(handler)
        try:
            httpx.get(f"{server.url}/terms/nope")
            httpx.get(f"{server.url}/search", params={"q": "a" * 600})
        finally:
            logging.getLogger("glossary.access").removeHandler(handler)
    assert handler.lines[0].startswith('127.0.0.1 "GET /terms/nope" 404 ') and handler.lines[0].endswith(" ms")
    assert handler.lines[1].startswith('127.0.0.1 "GET /search?q=aaaa') and '...(610 chars)" 422 ' in handler.lines[1]


def test_one_client_cannot_hold_more_than_its_share_in_flight(mini_searcher: Searcher) -> None:
    values = {"max_in_flight": 10, "max_in_flight_per_client": 2, "trusted_proxies": ["127.0.0.1"]}
    with live(SlowSearcher(mini_searcher, 1.5), **values) as server:
        results: list[tuple[str, int]] = []

        def search(client: str) -> None:
            headers = {"X-Forwarded-For": client}
            response = httpx.get(f"{server.url}/search", params={"q": "dropout"}, headers=headers, timeout=30)
            results.append((client, response.status_code))

        threads = [threading.Thread(target=search, args=("198.51.100.1",)) for _ in range(4)]
        threads.append(threading.Thread(target=search, args=("198.51.100.2",)))
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        greedy = sorted(status for client, status in results if client == "198.51.100.1")
        assert greedy == [200, 200, 429, 429]
        assert ("198.51.100.2", 200) in results  # another client still gets in
