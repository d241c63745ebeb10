#!/usr/bin/env python
"""Benchmark warm GET /search latency over real HTTP on 127.0.0.1.

Starts `glossary serve --index IDX --port PORT` as a subprocess on a free loopback
port, waits for GET /health, sends warm-up requests, then N sequential GET /search
requests over one keep-alive connection (http.client). The queries are a fixed mix
taken from the bundled evaluation set: questions in people's own words, names,
acronyms, misspelt names and a few off-topic queries.

Prints p50, p90, p99 and max of the wall latency seen by the client (request sent to
body read), the throughput, and the median of the server's own `inference.embed_ms`
and `inference.search_ms` from each response. With --concurrency C > 1 it then runs
the same N requests again from C threads, each with its own keep-alive connection,
and prints the same figures for that phase. The server is stopped at the end, also
on error, Ctrl-C or SIGTERM. Nothing is asserted about time; every response must be a 200.

Run from the project root:

    .venv/bin/python scripts/bench_http.py
    .venv/bin/python scripts/bench_http.py --requests 300 --concurrency 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from indexer.paths import BUNDLED_QUERIES, PROJECT_ROOT, default_index_dir

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 180.0  # loading torch and the model on a busy two-core machine
REQUEST_TIMEOUT_S = 60.0
WARMUP_REQUESTS = 20
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 64
# The share of each query kind in the mix (kinds as in corpus/eval_queries.jsonl).
MIX = {"paraphrase": 0.40, "lookup": 0.25, "acronym": 0.12, "typo": 0.18, "none": 0.05}


@dataclass(frozen=True)
class Sample:
    wall_ms: float
    embed_ms: float
    search_ms: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--index", type=Path, default=None, help="Index directory (default: indexer.paths.default_index_dir())."
    )
    parser.add_argument("--requests", "-n", type=int, default=300, help="Timed requests per phase (default 300).")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=1, help="Threads of the concurrent phase; 1 skips it (default 1)."
    )
    parser.add_argument("--k", type=int, default=10, help="Hits asked for per query (default 10).")
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES, help="JSONL file of {query, kind}.")
    parser.add_argument(
        "--glossary", type=Path, default=PROJECT_ROOT / ".venv" / "bin" / "glossary", help="The glossary command."
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    return args


def query_mix(path: Path, count: int, seed: int = 0) -> list[str]:
    """`count` queries drawn (with a fixed seed) from each kind's pool in the proportions of MIX."""
    pools: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            pools.setdefault(record.get("kind", "paraphrase"), []).append(record["query"])
    kinds = [kind for kind in MIX if pools.get(kind)]
    if not kinds:
        raise SystemExit(f"no queries of the kinds {sorted(MIX)} in {path}")
    rng = random.Random(seed)
    chosen = rng.choices(kinds, weights=[MIX[kind] for kind in kinds], k=count)
    return [rng.choice(pools[kind]) for kind in chosen]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def health_ok(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def wait_until_up(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read().decode(errors='replace')}")
        if health_ok(port):
            return
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer /health within {STARTUP_TIMEOUT_S:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def running_server(glossary: Path, index: Path) -> Iterator[int]:
    """A `glossary serve` subprocess on a free loopback port, stopped on exit; yields the port."""
    port = free_port()
    command = [str(glossary), "serve", "--index", str(index), "--host", HOST, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        try:
            wait_until_up(process, port, log)
            yield port
        finally:
            stop(process)


def search_once(connection: http.client.HTTPConnection, query: str, k: int) -> Sample:
    path = "/search?" + urllib.parse.urlencode({"q": query, "k": k})
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    wall_ms = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
    inference = json.loads(body)["inference"]
    return Sample(wall_ms, float(inference["embed_ms"]), float(inference["search_ms"]))


def run_sequence(port: int, queries: list[str], k: int) -> list[Sample]:
    """The queries one after another over one keep-alive connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    try:
        return [search_once(connection, query, k) for query in queries]
    finally:
        connection.close()


def run_concurrent(port: int, queries: list[str], k: int, threads: int) -> tuple[list[Sample], float]:
    """The queries split over `threads` threads, each with its own connection; samples and seconds taken."""
    results: list[list[Sample]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            results[slot] = run_sequence(port, queries[slot::threads], k)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(slot,), daemon=True) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=REQUEST_TIMEOUT_S * len(queries))
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} of {threads} threads failed") from errors[0]
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("a worker thread did not finish in time")
    return [sample for chunk in results for sample in chunk], seconds


def report(label: str, samples: list[Sample], seconds: float) -> None:
    walls = [s.wall_ms for s in samples]
    cuts = statistics.quantiles(walls, n=100, method="inclusive")
    print(
        f"{label}: {len(samples)} requests in {seconds:.2f} s = {len(samples) / seconds:.1f} requests/s\n"
        f"  wall latency  p50 {cuts[49]:7.2f} ms   p90 {cuts[89]:7.2f} ms   p99 {cuts[98]:7.2f} ms   "
        f"max {max(walls):7.2f} ms\n"
        f"  server's own  embed_ms median {statistics.median(s.embed_ms for s in samples):.2f}   "
        f"search_ms median {statistics.median(s.search_ms for s in samples):.2f}"
    )


def exit_on_sigterm() -> None:
    """Make `kill PID` unwind like Ctrl-C does, so that the server is stopped too."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    index = args.index or default_index_dir()
    queries = query_mix(args.queries, args.requests)
    warmup = query_mix(args.queries, WARMUP_REQUESTS, seed=1)
    print(f"index {index}; {len(queries)} queries a phase, mix {MIX}; k={args.k}; {WARMUP_REQUESTS} warm-up requests")
    with running_server(args.glossary, index) as port:
        print(f"glossary serve is up on http://{HOST}:{port}/")
        run_sequence(port, warmup, args.k)
        started = time.perf_counter()
        samples = run_sequence(port, queries, args.k)
        report("sequential, 1 keep-alive connection", samples, time.perf_counter() - started)
        if args.concurrency > 1:
            samples, seconds = run_concurrent(port, queries, args.k, args.concurrency)
            report(f"concurrent, {args.concurrency} threads, one connection each", samples, seconds)
    print("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
