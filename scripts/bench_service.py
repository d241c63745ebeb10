#!/usr/bin/env python
"""The load and slow-client checks of issue 10, against real `glossary serve` processes on 127.0.0.1.

Each phase starts its own server (`glossary serve` as a subprocess, settings by GLOSSARY_*
variables), runs for a bounded time and prints its figures; nothing is asserted. Phases:

  fuzz       schemathesis over /openapi.json, every check, --fuzz-examples per operation
             (over 5,000 cases by default); prints cases, failures and 5xx answers
  slow       1,000 connections (half idle, half with a request head almost at the limit,
             never finished): server memory growth (all its processes), how long until the
             server closed them all, and /health latency meanwhile
  hostile    200 connections sending 500-character k=50 queries as fast as they can, from one
             client address (behind a trusted proxy, X-Forwarded-For); meanwhile /health ten
             times a second and a polite client at 1 request/s from another address
  crowd      the same 200 connections, each from its own address (no rate limit can help;
             the in-flight cap sheds load)
  throughput /search from 16 keep-alive clients: the code before issue 10 (git commit
             BASELINE, one process), then GLOSSARY_WORKERS=1, GLOSSARY_WORKERS=2, the same with
             the full-precision query encoder, and with two search slots per worker
  reindex    16 clients search while `glossary index` publishes 10 new builds; every answer
             must be a 200 from one whole build (each build marks every category)

Run from the project root, with an index of the bundled glossary:

    .venv/bin/python scripts/bench_service.py --index .index
    .venv/bin/python scripts/bench_service.py --index .index --phases slow,hostile --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.queues
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from indexer.paths import BUNDLED_CORPUS, BUNDLED_QUERIES, PROJECT_ROOT

HOST = "127.0.0.1"
BIN = PROJECT_ROOT / ".venv" / "bin"
BASELINE = "f0dfa3d"  # main before issue 10: one process, no limits
PHASES = ("fuzz", "slow", "hostile", "crowd", "throughput", "reindex")
# Throughput and reindex phases: 16 well-behaved clients, told apart by X-Forwarded-For, no rate limit
# (a benchmark client asks as fast as it can, which the rate limit is there to stop).
UNLIMITED = {"GLOSSARY_RATE_LIMIT": "", "GLOSSARY_TRUSTED_PROXIES": '["127.0.0.1"]'}
WORDS = ["model", "data", "training", "loss", "gradient", "layer", "token", "embedding", "attention", "bias"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="An index of the bundled glossary.")
    parser.add_argument("--phases", default=",".join(PHASES), help="Comma-separated subset of " + ", ".join(PHASES))
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each timed phase (default 20).")
    parser.add_argument(
        "--baseline-index",
        type=Path,
        help="the index the code before issue 10 serves in the throughput phase (default: --index); it cannot "
        "read an index whose entries have fields it does not know, such as described_as",
    )
    parser.add_argument("--fuzz-examples", type=int, default=600, help="schemathesis -n (default 600).")
    parser.add_argument("--connections", type=int, default=1000, help="Slow connections (default 1000).")
    parser.add_argument("--hostile", type=int, default=200, help="Hostile connections (default 200).")
    parser.add_argument(
        "--generator-niceness",
        type=int,
        default=0,
        help="hostile, crowd: lower the hostile load generator's priority by this many nice steps, so that "
        "sharing the server's cores it takes what the server leaves (default 0: the same priority).",
    )
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------- servers


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def cpu_seconds(self) -> float:
        """User and system CPU time of every process of the server so far."""
        return process_cpu_seconds(self.pids())

    def rss_mb(self) -> dict[int, float]:
        sizes = {pid: process_rss_mb(pid) for pid in self.pids()}
        return {pid: size for pid, size in sizes.items() if size and "resource_tracker" not in command_line(pid)}


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, their children, ...), from /proc."""
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        with suppress(OSError):
            children = list(map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split()))
            pids += children
            queue += children
    return pids


def process_cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far (those gone count nothing)."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (0 when it is gone)."""
    with suppress(OSError):
        match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        if match:
            return int(match.group(1)) / 1024
    return 0.0


def command_line(pid: int) -> str:
    with suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


@contextmanager
def serve(
    index: Path, env: dict[str, str], pythonpath: Path | None = None, start_timeout: float = 240
) -> Iterator[Server]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-service-", suffix=".log")[1])
    full_env = {**os.environ, "GLOSSARY_ACCESS_LOG": "false", **env}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath)
    command = [str(BIN / "python"), "-m", "search_api.cli", "serve", "--index", str(index), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=pythonpath)
    server = Server(process, port, log)
    try:
        wait_healthy(server, start_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_healthy(server: Server, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log.read_text()[-2000:]}")
        try:
            status, _ = asyncio.run(one_request(server.port, "/health"))
            if status == 200:
                time.sleep(5)  # the other workers finish loading about when the first does
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not become healthy")


# ---------------------------------------------------------------------------------------------- HTTP


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            assert self.reader is not None
            try:
                self.writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n{self.extra}\r\n".encode())
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
                body = await self.reader.readexactly(length)
                if b"connection: close" in head.lower():
                    await self.close()
                return status, body
            except (OSError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def one_request(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = Connection(port, headers)
    try:
        return await connection.get(target)
    finally:
        await connection.close()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency_line(name: str, values: list[float]) -> str:
    return (
        f"{name}: n={len(values)} p50={percentile(values, 0.5):.1f} ms p99={percentile(values, 0.99):.1f} ms "
        f"max={max(values, default=float('nan')):.1f} ms"
    )


async def probe(
    port: int, target: str, interval: float, until: float, headers: dict[str, str], done: asyncio.Event | None = None
) -> list[float]:
    """Latency of one request every `interval` seconds on a fresh connection each (as a load balancer would)."""
    times: list[float] = []
    while time.monotonic() < until and not (done is not None and done.is_set()):
        started = time.perf_counter()
        try:
            status, _ = await one_request(port, target, headers)
        except (OSError, asyncio.IncompleteReadError):
            status = 0
        if status == 200:
            times.append((time.perf_counter() - started) * 1000)
        else:
            times.append(float("inf"))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    return times


# ---------------------------------------------------------------------------------------------- phases


def phase_fuzz(args: argparse.Namespace) -> None:
    with serve(args.index, {"GLOSSARY_RATE_LIMIT": "", "GLOSSARY_WORKERS": "2"}) as server:
        command = [str(BIN / "st"), "run", f"{server.url}/openapi.json", "--checks", "all"]
        command += ["-n", str(args.fuzz_examples), "--seed", "10", "--generation-database", "none"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    summary = re.search(r"(\d+) generated, (\d+) passed(?:, (\d+) failed)?", result.stdout)
    print(f"fuzz: `{' '.join(command[1:])}` exit {result.returncode}")
    print(f"fuzz: {summary.group(0) if summary else result.stdout[-600:]}")
    print(f"fuzz: {result.stdout.strip().splitlines()[-1]} (a 5xx fails the not_a_server_error check)")


async def slow_clients(server: Server, count: int, seconds: float) -> None:
    head_limit = 16384
    before = sum(server.rss_mb().values())
    until = time.monotonic() + seconds + 60
    done = asyncio.Event()
    health = asyncio.create_task(probe(server.port, "/health", 0.1, until, {}, done))
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    started = time.monotonic()
    for i in range(count):
        reader, writer = await asyncio.open_connection(HOST, server.port)
        if i % 2:
            writer.write(b"GET /search?q=" + b"x" * (head_limit - 200) + b" HTTP/1.1\r\nHost: bench\r\nX-Pad: ")
        opened.append((reader, writer))
    opened_s = time.monotonic() - started
    await asyncio.sleep(2)
    peak = sum(server.rss_mb().values())

    async def closed_after(reader: asyncio.StreamReader) -> float:
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        return time.monotonic() - started

    closes = await asyncio.gather(*(closed_after(r) for r, _ in opened))
    done.set()
    for _, writer in opened:
        writer.close()
    after = sum(server.rss_mb().values())
    times = await health
    print(
        f"slow: {count} connections opened in {opened_s:.1f} s (half idle, half with a {head_limit - 150}-byte "
        "unfinished head)"
    )
    print(
        f"slow: server memory {before:.0f} MB -> {peak:.0f} MB with them open (+{peak - before:.0f} MB), "
        f"{after:.0f} MB after"
    )
    print(
        f"slow: all closed by the server within {max(closes):.1f} s of the first opening (first at {min(closes):.1f} s)"
    )
    print("slow: " + latency_line("/health meanwhile", times))


def phase_slow(args: argparse.Namespace) -> None:
    with serve(args.index, {"GLOSSARY_WORKERS": "2"}) as server:
        asyncio.run(slow_clients(server, args.connections, args.seconds))


def hostile_query(rng: random.Random) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < 500:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:500]


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def hostile_client(port: int, until: float, address: str, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    connection = Connection(port, {"X-Forwarded-For": address})
    while time.monotonic() < until:
        q = urllib.parse.quote(hostile_query(rng))
        try:
            status, _ = await connection.get(f"/search?q={q}&k=50")
        except (OSError, asyncio.IncompleteReadError):
            status = 0
        tally.add(status)
    await connection.close()


async def polite_client(port: int, until: float) -> tuple[list[float], Tally]:
    queries = load_queries()
    tally, times = Tally(), []
    connection = Connection(port, {"X-Forwarded-For": "198.51.100.10"})
    for q in queries:
        if time.monotonic() >= until:
            break
        started = time.perf_counter()
        status, _ = await connection.get("/search?q=" + urllib.parse.quote(q))
        tally.add(status)
        if status == 200:
            times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
    return times, tally


async def observe(port: int, until: float) -> tuple[list[float], tuple[list[float], Tally]]:
    health = probe(port, "/health", 0.1, until, {"X-Forwarded-For": "192.0.2.1"})
    return await asyncio.gather(health, polite_client(port, until))


def observer(port: int, until: float, results: multiprocessing.queues.Queue) -> None:  # type: ignore[type-arg]
    """The /health probe and the polite client, in a process (and event loop) of their own."""
    health_times, (polite_times, polite_tally) = asyncio.run(observe(port, until))
    results.put((health_times, polite_times, polite_tally.statuses))


async def hostile_run(server: Server, count: int, seconds: float, distinct: bool, niceness: int) -> None:
    """The hostile clients in this process; the /health probe and the polite client in another.

    Measured from the hostile clients' own event loop, a probe's latency would include the time
    that loop spends on 200 connections before it reads the answer: the client's delay, not the
    server's. The load generator shares the server's cores; `niceness` lowers its priority (the
    answers-per-second figure shows how hard it still pushed).
    """
    until = time.monotonic() + seconds
    results: multiprocessing.queues.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    watcher = multiprocessing.get_context("fork").Process(target=observer, args=(server.port, until, results))
    watcher.start()
    if niceness:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    tally = Tally()
    clients = [
        hostile_client(server.port, until, f"203.0.{i // 250}.{i % 250}" if distinct else "203.0.113.66", tally, i)
        for i in range(count)
    ]
    await asyncio.gather(*clients)
    health_times, polite_times, statuses = results.get(timeout=seconds + 120)
    watcher.join(30)
    polite_tally = Tally(statuses)
    name = "crowd" if distinct else "hostile"
    who = f"{count} addresses" if distinct else "one address"
    print(
        f"{name}: {count} connections from {who} for {seconds:.0f} s (load generator at nice +{niceness}): "
        f"answers by status {tally.statuses} ({sum(tally.statuses.values()) / seconds:.0f}/s)"
    )
    print(f"{name}: " + latency_line("/health", health_times))
    print(f"{name}: " + latency_line("polite client, 1 req/s", polite_times) + f" statuses {polite_tally.statuses}")


def phase_hostile(args: argparse.Namespace, distinct: bool) -> None:
    env = {"GLOSSARY_WORKERS": "2", "GLOSSARY_TRUSTED_PROXIES": '["127.0.0.1"]'}
    with serve(args.index, env) as server:
        asyncio.run(hostile_run(server, args.hostile, args.seconds, distinct, args.generator_niceness))
    if args.generator_niceness:  # the next phases' clients get their priority back (where raising it is allowed)
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - args.generator_niceness)


def load_queries() -> list[str]:
    rows = [json.loads(line) for line in BUNDLED_QUERIES.read_text().splitlines() if line.strip()]
    queries = [row["query"] for row in rows]
    random.Random(7).shuffle(queries)
    return queries * 50


async def search_clients(port: int, clients: int, seconds: float) -> tuple[int, dict[int, int], list[float]]:
    queries = load_queries()
    until = time.monotonic() + seconds
    tally, times = Tally(), []

    async def client(offset: int) -> None:
        connection = Connection(port, {"X-Forwarded-For": f"198.51.100.{offset + 1}"})  # 16 clients, 16 addresses
        i = offset * 97
        while time.monotonic() < until:
            i += 1
            started = time.perf_counter()
            status, _ = await connection.get("/search?q=" + urllib.parse.quote(queries[i % len(queries)]))
            tally.add(status)
            times.append((time.perf_counter() - started) * 1000)
        await connection.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return tally.statuses.get(200, 0), tally.statuses, times


def phase_throughput(args: argparse.Namespace) -> None:
    baseline = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    archive = subprocess.run(["git", "archive", BASELINE], cwd=PROJECT_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
    runs: list[tuple[str, dict[str, str], Path | None]] = [
        (f"before issue 10 ({BASELINE}), one process", {}, baseline),
        ("GLOSSARY_WORKERS=1", {"GLOSSARY_WORKERS": "1", **UNLIMITED}, None),
        # the default encoder named, so that a GLOSSARY_QUERY_ENCODER in this shell cannot swap the ratio's sides
        ("GLOSSARY_WORKERS=2", {"GLOSSARY_WORKERS": "2", "GLOSSARY_QUERY_ENCODER": "onnx-int8", **UNLIMITED}, None),
        (
            "GLOSSARY_WORKERS=2 GLOSSARY_QUERY_ENCODER=onnx (full precision)",
            {"GLOSSARY_WORKERS": "2", "GLOSSARY_QUERY_ENCODER": "onnx", **UNLIMITED},
            None,
        ),
        (
            "GLOSSARY_WORKERS=2 GLOSSARY_SEARCH_SLOTS=2",
            {"GLOSSARY_WORKERS": "2", "GLOSSARY_SEARCH_SLOTS": "2", **UNLIMITED},
            None,
        ),
    ]
    rates: list[float | None] = []
    try:
        for name, env, path in runs:
            index = args.baseline_index if path is not None and args.baseline_index else args.index
            with ExitStack() as stack:
                try:
                    server = stack.enter_context(serve(index, env, path))
                except RuntimeError as exc:  # the code before issue 10 cannot read an index with newer fields
                    if path is None:
                        raise
                    reason = str(exc).splitlines()[0][:160]
                    print(f"throughput: {name}: not run, it cannot serve {index} ({reason}); see --baseline-index")
                    rates.append(None)
                    continue
                asyncio.run(search_clients(server.port, 16, 3))  # warm every worker
                cpu = server.cpu_seconds()
                ok, statuses, times = asyncio.run(search_clients(server.port, 16, args.seconds))
                cpu = server.cpu_seconds() - cpu
                memory = server.rss_mb()
            rates.append(ok / args.seconds)
            print(
                f"throughput: {name}: {ok / args.seconds:.0f} answers/s, statuses {statuses}; "
                f"server CPU {cpu / args.seconds:.2f} cores, {1000 * cpu / max(ok, 1):.1f} CPU-ms per answer; "
                + latency_line("latency", times)
                + "; RSS per process (MB): "
                + ", ".join(f"{v:.0f}" for v in memory.values())
            )
    finally:
        shutil.rmtree(baseline, ignore_errors=True)
    before = f"{rates[2] / rates[0]:.2f}x" if rates[0] and rates[2] else "not measured"
    assert rates[1] and rates[2] and rates[3]
    print(
        f"throughput: 2 workers / before = {before}; "
        f"2 workers / 1 worker = {rates[2] / rates[1]:.2f}x; "
        f"int8 query encoder (default) / full precision = {rates[2] / rates[3]:.2f}x"
    )


def phase_reindex(args: argparse.Namespace) -> None:
    from indexer.validation import load_glossary

    work = Path(tempfile.mkdtemp(prefix="bench-reindex-"))
    index = work / "index"
    entries = load_glossary(BUNDLED_CORPUS, complete=True)
    index_command = [str(BIN / "glossary"), "index"]
    # A plain copy of the given index: the first build reuses its vectors (nothing is embedded) and
    # replaces the directory by the versioned layout.
    shutil.copytree(os.path.realpath(args.index), index)
    markers: dict[str, str | None] = {index.name: None}
    env = {"GLOSSARY_WORKERS": "2", "GLOSSARY_RELOAD_INTERVAL": "1", **UNLIMITED}
    answers: list[tuple[int, str, set[str]]] = []
    try:
        with serve(index, env) as server:
            stop = threading.Event()
            thread = threading.Thread(target=lambda: asyncio.run(reindex_clients(server.port, stop, answers)))
            thread.start()
            build_seconds = []
            for number in range(1, 11):
                source = work / f"build-{number}.jsonl"
                marker = f"bench build {number}"
                source.write_text(
                    "".join(json.dumps({**e.model_dump(mode="json"), "category": marker}) + "\n" for e in entries)
                )
                started = time.monotonic()
                subprocess.run([*index_command, str(source), "--out", str(index)], check=True, capture_output=True)
                build_seconds.append(time.monotonic() - started)
                markers[Path(os.readlink(index)).name] = marker
                time.sleep(1.5)
            time.sleep(3)
            stop.set()
            thread.join()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [a for a in answers if a[0] != 200]
    mixed = [a for a in answers if a[0] == 200 and not one_build(a, markers)]
    served = {a[1] for a in answers if a[0] == 200}
    print(
        f"reindex: 10 builds published (each {min(build_seconds):.1f}-{max(build_seconds):.1f} s) while 16 clients "
        f"searched: {len(answers)} answers, {len(failed)} failed, {len(mixed)} mixing builds or not from their build; "
        f"{len(served)} of {len(markers)} builds answered"
    )


def one_build(answer: tuple[int, str, set[str]], markers: dict[str, str | None]) -> bool:
    _, build, categories = answer
    if build not in markers:
        return False
    marker = markers[build]
    if marker is None:
        return not any(c.startswith("bench build") for c in categories)
    return categories <= {marker}


async def reindex_clients(port: int, stop: threading.Event, answers: list[tuple[int, str, set[str]]]) -> None:
    queries = load_queries()

    async def client(offset: int) -> None:
        connection = Connection(port, {"X-Forwarded-For": f"198.51.100.{offset + 1}"})
        i = offset * 131
        while not stop.is_set():
            i += 1
            status, body = await connection.get("/search?k=10&q=" + urllib.parse.quote(queries[i % len(queries)]))
            if status == 200:
                data = json.loads(body)
                answers.append((status, data["inference"]["build"], {h["category"] for h in data["hits"]}))
            else:
                answers.append((status, "", set()))

    await asyncio.gather(*(client(n) for n in range(16)))


def main() -> None:
    args = parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    print(f"bench_service: {os.cpu_count()} CPUs, index {args.index}, phases {', '.join(phases)}", flush=True)
    for phase in phases:
        started = time.monotonic()
        if phase == "fuzz":
            phase_fuzz(args)
        elif phase == "slow":
            phase_slow(args)
        elif phase in ("hostile", "crowd"):
            phase_hostile(args, distinct=phase == "crowd")
        elif phase == "throughput":
            phase_throughput(args)
        elif phase == "reindex":
            phase_reindex(args)
        else:
            sys.exit(f"unknown phase {phase!r}; use {', '.join(PHASES)}")
        print(f"({phase} took {time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
