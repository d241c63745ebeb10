#!/usr/bin/env python
"""In-process query latency: `Searcher.answer` over the evaluation questions, split into its parts.

Prints p50 and p99 of the whole answer, of embedding the query and of ranking (vector scan,
BM25, names, features, fusion, snippets), after one untimed warm-up pass.

    .venv/bin/python scripts/bench_search.py [--index DIR] [--queries FILE] [--passes 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.searcher import Searcher


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--limit", type=int, default=300, help="questions per pass")
    args = parser.parse_args()
    searcher = Searcher.load(args.index)
    lines = args.queries.read_text("utf-8").splitlines()
    queries = [json.loads(line)["query"] for line in lines if line.strip()][: args.limit]
    for query in queries:  # warm-up: caches, first calls
        searcher.answer(query, 10)
    total, embed, rank = [], [], []
    for _ in range(args.passes):
        for query in queries:
            started = time.perf_counter()
            answer = searcher.answer(query, 10)
            total.append((time.perf_counter() - started) * 1000)
            embed.append(answer.embed_ms)
            rank.append(answer.search_ms)
    print(f"{len(searcher.entries)} entries, {len(searcher.index.rows)} vectors, {len(total)} queries")
    for name, values in (("answer", total), ("embed", embed), ("rank", rank)):
        print(f"{name:7} p50 {statistics.median(values):.2f} ms  p99 {percentile(values, 99):.2f} ms")


if __name__ == "__main__":
    main()
