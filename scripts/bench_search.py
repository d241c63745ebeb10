#!/usr/bin/env python
"""In-process query latency: `Searcher.answer` over the evaluation questions, split into its parts.

Prints p50 and p99 of the whole answer, of embedding the query and of ranking (vector search,
BM25, names, features, fusion, snippets), after one untimed warm-up pass.

With `--large DIR`, a second index (e.g. the 232,750-entry reverse dictionary) answers the same
questions in the same run, each question asked of one index and then the other, so that a busy
machine slows both alike; then `/suggest`'s name matching is timed on both over the same typed
prefixes (every prefix of real names of each glossary, and misspellings), and the ratios are
printed. Nothing is asserted about time.

    .venv/bin/python scripts/bench_search.py [--index DIR] [--queries FILE] [--passes 3]
    .venv/bin/python scripts/bench_search.py --index BUNDLED --large BIG --limit 200 --passes 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.app import create_app
from search_api.searcher import Searcher
from search_api.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_suggest import keystrokes, typed_names


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return f"{name:14} p50 {statistics.median(values):8.2f} ms  p99 {percentile(values, 99):8.2f} ms"


def load(path: Path) -> tuple[Searcher, float]:
    """The searcher as `glossary serve` loads it (GLOSSARY_QUERY_ENCODER: default onnx-int8; GLOSSARY_FUSION)."""
    started = time.perf_counter()
    searcher = Settings().load_searcher(index=path)
    return searcher, time.perf_counter() - started


def describe(label: str, searcher: Searcher, seconds: float) -> str:
    info = searcher.index.manifest.vector_index
    kind = (
        info.kind if info.kind == "flat" else f"{info.kind} (efSearch {info.ef_search}, recall@10 {info.recall_at_10})"
    )
    scored = "every entry" if searcher.rank_all else f"candidates ({searcher.dense_candidates} nearest rows)"
    return (
        f"{label}: {len(searcher.entries):,} entries, {len(searcher.index.rows):,} vectors, {kind} index, "
        f"ranks {scored}; queries embedded by {searcher.encoder.runtime}; "
        f"loaded in {seconds:.1f} s"
    )


def time_answers(searchers: list[Searcher], queries: list[str], passes: int) -> list[dict[str, list[float]]]:
    """Each query asked of every searcher in turn; per searcher the answer, embed and rank times."""
    for query in queries:  # warm-up: caches, first calls
        for searcher in searchers:
            searcher.answer(query, 10)
    times: list[dict[str, list[float]]] = [{"answer": [], "embed": [], "rank": []} for _ in searchers]
    for _ in range(passes):
        for query in queries:
            for searcher, record in zip(searchers, times, strict=True):
                started = time.perf_counter()
                answer = searcher.answer(query, 10)
                record["answer"].append((time.perf_counter() - started) * 1000)
                record["embed"].append(answer.embed_ms)
                record["rank"].append(answer.search_ms)
    return times


def time_suggest(searchers: list[Searcher], prefixes: list[str], rounds: int) -> list[list[float]]:
    """`names.suggest` for every prefix, each asked of every searcher in turn."""
    for prefix in prefixes:
        for searcher in searchers:
            searcher.names.suggest(prefix, 8)
    times: list[list[float]] = [[] for _ in searchers]
    for _ in range(rounds):
        for prefix in prefixes:
            for searcher, record in zip(searchers, times, strict=True):
                started = time.perf_counter()
                searcher.names.suggest(prefix, 8)
                record.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--large", type=Path, help="a second (large) index, asked the same questions in the same run")
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--limit", type=int, default=300, help="questions per pass")
    parser.add_argument("--suggest-rounds", type=int, default=2)
    parser.add_argument("--http-queries", type=int, default=100, help="questions sent as GET /search")
    parser.add_argument("--http-every", type=int, default=4, help="every n-th typed prefix sent as GET /suggest")
    args = parser.parse_args()
    compare(
        args.index,
        args.large,
        args.queries,
        args.passes,
        args.limit,
        args.suggest_rounds,
        args.http_queries,
        args.http_every,
    )


def compare(
    index: Path,
    large: Path | None,
    queries_file: Path = BUNDLED_QUERIES,
    passes: int = 3,
    limit: int = 300,
    suggest_rounds: int = 2,
    http_queries: int = 100,
    http_every: int = 4,
) -> None:
    """Print the latency figures of one index, or of a large one beside it (see the module's doc)."""
    labels = ["index" if large is None else "bundled", "large"]
    loaded = [load(index)] + ([load(large)] if large is not None else [])
    searchers = [searcher for searcher, _ in loaded]
    for label, (searcher, seconds) in zip(labels, loaded, strict=False):
        print(describe(label, searcher, seconds))
    print(
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, load average {os.getloadavg()}"
    )
    lines = queries_file.read_text("utf-8").splitlines()
    queries = [json.loads(line)["query"] for line in lines if line.strip()][:limit]
    times = time_answers(searchers, queries, passes)
    print(f"Searcher.answer, {len(queries)} questions x {passes} passes after a warm-up, interleaved:")
    for label, record in zip(labels, times, strict=False):
        print(f"[{label}]")
        for name in ("answer", "embed", "rank"):
            print("  " + line(name, record[name]))
    if large is None:
        return
    ratio = statistics.median(times[1]["answer"]) / statistics.median(times[0]["answer"])
    print(f"answer p50, large / bundled: {ratio:.2f}x")
    names = [name for searcher in searchers for name in typed_names(searcher)]
    prefixes = keystrokes(names)
    print(f"names.suggest (/suggest's matching), {len(prefixes)} typed prefixes x {suggest_rounds} rounds:")
    suggest = time_suggest(searchers, prefixes, suggest_rounds)
    for label, record in zip(labels, suggest, strict=True):
        print(f"  [{label}] " + line("suggest", record))
    print(f"suggest p50, large / bundled: {statistics.median(suggest[1]) / statistics.median(suggest[0]):.2f}x")
    http = time_http(searchers, [index, large], queries[:http_queries], prefixes[::http_every])
    print("through the app (FastAPI TestClient, in process, no socket; its own overhead included), interleaved:")
    for label, record in zip(labels, http, strict=True):
        for route, values in record.items():
            print(f"  [{label}] " + line(f"GET {route}", values))
    for route in ("/search", "/suggest"):
        large, bundled = statistics.median(http[1][route]), statistics.median(http[0][route])
        print(f"GET {route} p50, large / bundled: {large / bundled:.2f}x")
    print(f"load average at the end {os.getloadavg()}")


def time_http(
    searchers: list[Searcher], paths: list[Path], queries: list[str], prefixes: list[str]
) -> list[dict[str, list[float]]]:
    """GET /search and GET /suggest through each searcher's app, each request sent to every app in turn."""
    settings = [Settings(index=path, rate_limit="", reload_interval=0, access_log=False) for path in paths]
    clients = [TestClient(create_app(s, searcher)) for s, searcher in zip(settings, searchers, strict=True)]
    times: list[dict[str, list[float]]] = [{"/search": [], "/suggest": []} for _ in searchers]
    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client)
        for route, values in (("/search", queries), ("/suggest", prefixes)):
            for warm_up, value in [(True, v) for v in values[:20]] + [(False, v) for v in values]:
                for client, record in zip(clients, times, strict=True):
                    started = time.perf_counter()
                    response = client.get(route, params={"q": value})
                    took = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {route}?q={value!r} answered {response.status_code}")
                    if not warm_up:
                        record[route].append(took)
    return times


if __name__ == "__main__":
    main()
