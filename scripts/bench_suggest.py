#!/usr/bin/env python
"""Benchmark GET /suggest in-process, on the bundled glossary's index.

Measures two paths for the same stream of typed prefixes:

1. `searcher.names.suggest(prefix)`: the name matching alone;
2. GET /suggest through FastAPI's TestClient (routing, validation, response model,
   JSON), in-process: no socket, so no network cost is included.

The prefixes are what someone types into a search-as-you-type box: every prefix of
~30 real terms and aliases of the glossary ("b", "ba", "bac", ..., "backpropagation"),
plus every prefix of a few misspelt names. One warm-up pass comes first; then
p50, p90, p99 and max in milliseconds are printed for both paths, with the number of
calls, and the direct path split into short prefixes (no fuzzy matching) and longer
ones (fuzzy matching runs). Nothing is asserted about time.

Run from the project root:

    .venv/bin/python scripts/bench_suggest.py
    .venv/bin/python scripts/bench_suggest.py --rounds 5 --index ./my-index
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from indexer.paths import default_index_dir
from search_api.app import create_app
from search_api.names import MIN_FUZZY_LENGTH, normalize
from search_api.searcher import Searcher
from search_api.settings import Settings

TERM_COUNT = 20  # real terms, spread evenly over the glossary
ALIAS_COUNT = 10  # real aliases, from other entries
TYPO_COUNT = 8  # misspelt names, derived from real terms
LIMIT = 8  # the API's default suggestion count


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--index", type=Path, default=None, help="Index directory (default: indexer.paths.default_index_dir())."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Timed passes over the prefixes (default 3).")
    parser.add_argument("--limit", type=int, default=LIMIT, help=f"Suggestions per call (default {LIMIT}).")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100:
        parser.error("--rounds must be between 1 and 100")
    return args


def spread(items: list[str], count: int) -> list[str]:
    """`count` items taken evenly across `items` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def typo(name: str, variant: int) -> str:
    """A realistic misspelling: a dropped letter, or two neighbouring letters swapped."""
    middle = len(name) // 2
    if variant % 2 == 0:
        return name[:middle] + name[middle + 1 :]
    return name[: middle - 1] + name[middle] + name[middle - 1] + name[middle + 1 :]


def typed_names(searcher: Searcher) -> list[str]:
    """Real terms and aliases of the glossary, then misspellings of some terms."""
    terms = spread([e.term for e in searcher.entries], TERM_COUNT)
    aliases = spread([e.aliases[0] for e in searcher.entries if e.aliases and e.term not in terms], ALIAS_COUNT)
    long_terms = [t for t in terms if len(t) >= 7 and " " not in t[: len(t) // 2 + 1]]
    typos = [typo(t, i) for i, t in enumerate(spread(long_terms, TYPO_COUNT))]
    return terms + aliases + typos


def keystrokes(names: list[str]) -> list[str]:
    """Every prefix of every name, as typed one character at a time (blank prefixes skipped)."""
    return [name[:end] for name in names for end in range(1, len(name) + 1) if name[:end].strip()]


def time_calls(call: Callable[[str], object], prefixes: list[str], rounds: int) -> list[float]:
    """One untimed warm-up pass, then `rounds` timed passes; the milliseconds of each call."""
    for prefix in prefixes:
        call(prefix)
    times: list[float] = []
    for _ in range(rounds):
        for prefix in prefixes:
            started = time.perf_counter()
            call(prefix)
            times.append((time.perf_counter() - started) * 1000)
    return times


def http_call(client: TestClient, limit: int) -> Callable[[str], object]:
    def call(prefix: str) -> object:
        response = client.get("/suggest", params={"q": prefix, "limit": limit})
        if response.status_code != 200:
            raise RuntimeError(f"GET /suggest?q={prefix!r} answered {response.status_code}: {response.text[:200]}")
        return response.json()

    return call


def split_by_length(times: list[float], prefixes: list[str]) -> tuple[list[float], list[float]]:
    """The times of prefixes too short for fuzzy matching, and of the others."""
    short: list[float] = []
    long: list[float] = []
    for took, prefix in zip(times, prefixes, strict=True):
        (short if len(normalize(prefix)) < MIN_FUZZY_LENGTH else long).append(took)
    return short, long


def summary(label: str, times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return (
        f"{label:<32} calls {len(times):>6}   p50 {cuts[49]:7.3f} ms   p90 {cuts[89]:7.3f} ms   "
        f"p99 {cuts[98]:7.3f} ms   max {max(times):7.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    index = args.index or default_index_dir()
    searcher = Searcher.load(index, threads=1)
    names = typed_names(searcher)
    prefixes = keystrokes(names)
    print(f"index {index}: {len(searcher.entries)} entries, {len(searcher.names.names)} names")
    print(f"typed {len(names)} names ({len(prefixes)} prefixes a pass, {args.rounds} timed passes after 1 warm-up):")
    print("  " + ", ".join(repr(n) for n in names))
    direct = time_calls(lambda p: searcher.names.suggest(p, args.limit), prefixes, args.rounds)
    with TestClient(create_app(Settings(index=index), searcher)) as client:
        over_http = time_calls(http_call(client, args.limit), prefixes, args.rounds)
    print(summary("names.suggest (direct)", direct))
    print(summary("GET /suggest (TestClient)", over_http))
    short, long = split_by_length(direct, prefixes * args.rounds)
    print(summary(f"  direct, prefix < {MIN_FUZZY_LENGTH} chars", short))
    print(summary(f"  direct, prefix >= {MIN_FUZZY_LENGTH} (fuzzy)", long))
    return 0


if __name__ == "__main__":
    sys.exit(main())
