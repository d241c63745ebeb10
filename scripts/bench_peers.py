#!/usr/bin/env python
"""Our ranker beside txtai's hybrid engine, on the same glossary and questions, in one run.

txtai runs through the shared peers harness (../shared/benchmarks/peers/run_peers.py) in its
own virtual environment (txtai is not a dependency of this project; see that folder's README
for its setup). It indexes one vector per entry over term + definition + analogy + aliases
(--fields; `described_as` adds the entries' everyday descriptions), plus BM25, fused with its
default weight 0.5. Our ranker runs in process on the index given.
Both answer the answerable queries of one split (default: test) of the evaluation set; the
table gives Recall@1 and MRR@10 per query kind, with `blind` for questions written from the
term list only. Unanswerable queries are ours alone (the harness scores answerable ones).

    .venv/bin/python scripts/bench_peers.py --peers-python /path/to/venv/bin/python [--split test]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from indexer.paths import BUNDLED_QUERIES, PROJECT_ROOT, default_index_dir
from search_api.evaluation import BLIND, evaluate, load_queries, rank_metrics
from search_api.settings import Settings

HARNESS = PROJECT_ROOT.parent / "shared" / "benchmarks" / "peers" / "run_peers.py"


def group(query_kind: str, origin: str) -> str:
    return BLIND if origin == BLIND else query_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers-python", required=True, help="python of a venv with txtai (peers README)")
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--hybrid-weight", default="0.5")
    parser.add_argument(
        "--fields",
        default="term,definition,analogy,aliases",
        help="the entry fields txtai indexes, in order; add described_as to give it the everyday descriptions too",
    )
    args = parser.parse_args()

    searcher = Settings().load_searcher(index=args.index)  # as `glossary serve` loads it (GLOSSARY_*)
    print(f"ours: queries embedded by {searcher.encoder.runtime}")
    queries = load_queries(args.queries, set(searcher.by_id), args.split)
    answerable = [q for q in queries if q.expected is not None]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, qfile, out = Path(tmp) / "corpus.jsonl", Path(tmp) / "queries.jsonl", Path(tmp) / "out.json"
        corpus.write_text(
            "".join(
                json.dumps(
                    {
                        "id": e.id,
                        "term": e.term,
                        "definition": e.definition,
                        "analogy": e.analogy or "",
                        "aliases": list(e.aliases),
                        "described_as": "; ".join(e.described_as),
                    }
                )
                + "\n"
                for e in searcher.entries
            )
        )
        qfile.write_text(
            "".join(
                json.dumps({"query": q.query, "expected": q.expected, "kind": group(q.kind, q.origin)}) + "\n"
                for q in answerable
            )
        )
        subprocess.run(
            [
                args.peers_python,
                str(HARNESS),
                "--corpus",
                str(corpus),
                "--queries",
                str(qfile),
                "--fields",
                args.fields,
                "--systems",
                "txtai-hybrid",
                "--hybrid-weights",
                args.hybrid_weight,
                "--build-runs",
                "1",
                "--passes",
                "1",
                "--out",
                str(out),
            ],
            check=True,
        )
        peer = json.loads(out.read_text())
    theirs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in next(iter(peer["systems"].values()))["per_query"]:
        for key in (row["kind"], "overall"):
            theirs[key].append((row["recall@1"], row["mrr@10"]))
    report = evaluate(searcher, queries)
    ours: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for result in report.results["full"]:
        if result.query.expected is not None:
            metrics = rank_metrics(result.rank)
            for key in (group(result.query.kind, result.query.origin), "overall"):
                ours[key].append((metrics["recall@1"], metrics["mrr@10"]))

    print(
        f"split {args.split}: {len(answerable)} answerable queries, {len(searcher.entries)} entries; "
        f"txtai: {args.fields}"
    )
    print("| kind | n | ours R@1 | txtai hybrid R@1 | ours MRR@10 | txtai hybrid MRR@10 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("overall", BLIND, "paraphrase", "lookup", "acronym", "typo"):
        if kind in theirs:
            (r1, mrr), (their_r1, their_mrr) = mean(ours[kind]), mean(theirs[kind])
            print(f"| {kind} | {len(theirs[kind])} | {r1:.3f} | {their_r1:.3f} | {mrr:.3f} | {their_mrr:.3f} |")
    print("(paraphrase: questions written beside the entries; blind: written from the term list only)")
    print(f"unanswerable queries with no hits (ours): {report.rejected['full']:.3f}")


def mean(rows: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)


if __name__ == "__main__":
    main()
