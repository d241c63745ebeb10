#!/usr/bin/env python
"""The reverse-dictionary benchmark of Hill et al. (2016) through our own index and ranker.

Input: the folder that ../shared/benchmarks/reverse_dictionary/prepare.py writes (corpus.jsonl
of WordNet 3.0 (+ GCIDE) senses and the desc/seen/unseen query sets; see that README for where
the data comes from). This script turns the corpus into a glossary (one entry per sense, its
term and definition), indexes it with `glossary index`'s own code, runs every query through
the ranker, and prints median rank and acc@1/10/100 as MultiRD's evaluate.py defines them:
the rank is the 0-based position of the target word among the distinct words returned (best
sense first), a word missing from the top 100 counts as 1000. For `unseen`, every WordNet
sense of the target is removed from the ranking (Hill et al.'s protocol).

Then, in the same run, the large index and the bundled glossary's index answer the same
evaluation questions and typed prefixes in turn (scripts/bench_search.py's comparison):
`Searcher.answer`, `/suggest`'s name matching and both routes through the app, p50 and p99,
with the ratios. The build's time and peak memory are printed first.

Never tune on these queries: they are an outside check.

    .venv/bin/python scripts/bench_reverse_dictionary.py --data DIR --work DIR [--sets desc] [--bundled-index .index]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from indexer.build import build_index
from indexer.encoder import DEFAULT_MODEL, available_cores
from indexer.model_spec import DEFAULT_QUERY_MODEL
from indexer.onnx_encoder import load_runtime_encoder
from indexer.paths import default_index_dir
from indexer.validation import load_glossary
from search_api.cli import build_status, progress_log
from search_api.fusion import FusionWeights
from search_api.searcher import Searcher
from search_api.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import compare

CAP = 1000
DEPTH = 100  # distinct words ranked per query
FETCH = 600  # entries fetched per query to find DEPTH distinct words


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_glossary(data: Path, out: Path) -> dict[str, str]:
    """corpus.jsonl -> a JSONL glossary whose ids are slugs of the corpus ids; returns corpus id -> slug."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    with out.open("w", encoding="utf-8") as handle:
        for line in (data / "corpus.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            base = new = slug(row["id"])
            while new in taken:  # "9/11" and "9-11" slug alike
                new = f"{base}-{len(taken)}"
            taken.add(new)
            ids[row["id"]] = new
            entry = {"id": new, "term": row["term"].replace("_", " "), "definition": row["definition"]}
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return ids


def word_ranks(searcher: Searcher, queries: list[dict], weights: FusionWeights, ids: dict[str, str]) -> list[float]:
    vectors, _ = searcher.embed([q["query"] for q in queries])
    ranks = []
    for query, vector in zip(queries, vectors, strict=True):
        excluded = {ids[i] for i in query.get("exclude_ids", [])}
        hits, _ = searcher.rank(query["query"][:500], vector, FETCH, weights)
        words: list[str] = []
        for hit in hits:
            word = hit.term.casefold()
            if hit.id not in excluded and word not in words:
                words.append(word)
        target = query["expected"].replace("_", " ").casefold()
        ranks.append(float(words.index(target)) if target in words[:DEPTH] else float(CAP))
    return ranks


def summary(ranks: list[float]) -> str:
    r = np.asarray(ranks)
    acc = [float(np.mean(r < k)) for k in (1, 10, 100)]
    return f"{statistics.median(ranks):g} {acc[0]:.3f}/{acc[1]:.3f}/{acc[2]:.3f} {np.std(r):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="prepare.py's output folder")
    parser.add_argument("--work", type=Path, required=True, help="where the glossary and its index go")
    parser.add_argument("--sets", default="desc,seen,unseen")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument(
        "--query-model",
        default=DEFAULT_QUERY_MODEL,
        help="model that embeds the queries: MODEL+ADAPTER, or MODEL (default: the default model; no adapter ships)",
    )
    parser.add_argument(
        "--bundled-index",
        type=Path,
        default=default_index_dir(),
        help="the bundled glossary's index, timed beside the large one (`glossary index` builds it)",
    )
    parser.add_argument("--latency-questions", type=int, default=200, help="eval questions timed per pass; 0: skip")
    args = parser.parse_args()
    if args.latency_questions and not (args.bundled_index / "manifest.json").exists():
        parser.error(f"no index at {args.bundled_index}: run `glossary index` first, or pass --latency-questions 0")
    args.work.mkdir(parents=True, exist_ok=True)
    glossary, index = args.work / "glossary.jsonl", args.work / "index"
    ids = write_glossary(args.data, glossary)
    started = time.perf_counter()
    entries = load_glossary(glossary)
    # As `glossary index` builds it: ONNX Runtime, one thread per core, progress logged, resumable.
    report = build_index(
        entries,
        index,
        args.model,
        lambda: load_runtime_encoder(args.model, available_cores(), "onnx"),
        str(glossary),
        progress_log,
        status=build_status,
        query_model=args.query_model,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"index: {len(ids):,} entries, {report.vectors:,} vectors, {report.embedded:,} texts embedded "
        f"({report.resumed:,} taken from an interrupted build's checkpoints, {report.reused:,} rows reused), "
        f"{time.perf_counter() - started:.0f} s, peak RSS {peak:.0f} MB",
        flush=True,
    )
    searcher = Settings().load_searcher(index=index)  # as `glossary serve` loads it (GLOSSARY_*)
    print(f"queries embedded by {searcher.encoder.runtime}", flush=True)
    rankers = {"full ranker (as served)": searcher.weights, "dense alone": FusionWeights.only("dense")}
    print("| set | ranker | median rank, acc@1/10/100, rank std |\n| --- | --- | --- |")
    for name in args.sets.split(","):
        queries = [json.loads(line) for line in (args.data / f"queries_{name}.jsonl").open(encoding="utf-8")]
        for label, weights in rankers.items():
            print(
                f"| {name} ({len(queries)}) | {label} | {summary(word_ranks(searcher, queries, weights, ids))} |",
                flush=True,
            )
    del searcher
    if args.latency_questions:
        print("\nlatency, the bundled glossary beside this index, in the same run:", flush=True)
        compare(args.bundled_index, index, limit=args.latency_questions, passes=2)


if __name__ == "__main__":
    main()
