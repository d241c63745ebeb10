#!/usr/bin/env python
"""Choose the fusion weights and relevance floor on the evaluation set, honestly.

The queries are split in two by a hash of their text. On one half (dev), each candidate
set of weights gets the lowest floor that answers at least 90% of the `none` queries with
no hits; the candidate with the best MRR@10 under its floor wins. Both halves are
reported, so the held-out half shows how well the choice generalises.

    .venv/bin/python scripts/tune_fusion.py [--index DIR] [--queries FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from dataclasses import replace
from pathlib import Path

from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.evaluation import EvalQuery, load_queries
from search_api.fusion import FusionWeights, fuse, visible
from search_api.searcher import Searcher

GRID = {"lexical": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0], "name": [0.2, 0.4, 0.6, 0.8], "lexical_half": [0.75, 1.5, 2.9]}
FLOORS = [round(0.4 + 0.05 * i, 2) for i in range(19)]  # 0.40 .. 1.30
NONE_TARGET = 0.9


def is_dev(query: EvalQuery) -> bool:
    return int(hashlib.sha256(query.query.encode()).hexdigest(), 16) % 2 == 0


def score(
    searcher: Searcher, signals: list, queries: list[EvalQuery], weights: FusionWeights
) -> dict[float, tuple[float, float, float]]:  # type: ignore[type-arg]
    """Per floor: (Recall@1, MRR@10) over answerable queries, share of `none` queries with no hits."""
    totals = {float(f): [0.0, 0.0, 0.0] for f in FLOORS}
    answerable = sum(q.expected is not None for q in queries)
    none = len(queries) - answerable
    positions = {entry.id: i for i, entry in enumerate(searcher.entries)}
    for query, found in zip(queries, signals, strict=True):
        fused = fuse(found.dense, found.lexical, found.name, weights, searcher.lexical_unit)
        position = positions.get(query.expected or "", -1)
        for floor, total in totals.items():
            shown = visible(fused, found.name, replace(weights, floor=floor))
            if query.expected is None:
                total[2] += not shown.any()
                continue
            if shown[position]:
                rank = int((fused[shown] > fused[position]).sum()) + 1
                total[0] += rank == 1
                total[1] += 1 / rank if rank <= 10 else 0
    return {f: (t[0] / answerable, t[1] / answerable, t[2] / max(none, 1)) for f, t in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    args = parser.parse_args()
    searcher = Searcher.load(args.index)
    queries = load_queries(args.queries, set(searcher.by_id))
    vectors = searcher.encoder.encode([q.query for q in queries])
    signals = [searcher.signals(q.query, v) for q, v in zip(queries, vectors, strict=True)]
    halves = {name: [i for i, q in enumerate(queries) if is_dev(q) == (name == "dev")] for name in ("dev", "test")}

    def on(half: str, weights: FusionWeights) -> dict[float, tuple[float, float, float]]:
        rows = halves[half]
        return score(searcher, [signals[i] for i in rows], [queries[i] for i in rows], weights)

    candidates = [
        FusionWeights(dense=1.0, lexical=lexical, name=name, lexical_half=half, floor=-1.0)
        for lexical, name, half in itertools.product(GRID["lexical"], GRID["name"], GRID["lexical_half"])
    ]
    feasible = []  # (dev MRR@10, weights with the lowest floor that rejects enough `none` queries)
    for weights in candidates:
        by_floor = on("dev", weights)
        floor = next((f for f, (_, _, rejected) in by_floor.items() if rejected >= NONE_TARGET), None)
        if floor is not None:
            feasible.append((by_floor[floor][1], replace(weights, floor=floor)))
    chosen = max(feasible, key=lambda pair: pair[0])[1]
    print(f"chosen on dev ({len(halves['dev'])} queries): {chosen}")
    for half in ("dev", "test"):
        r1, mrr, rejected = on(half, chosen)[chosen.floor]
        print(f"{half:4}  recall@1 {r1:.3f}  mrr@10 {mrr:.3f}  none->[] {rejected:.3f}")


if __name__ == "__main__":
    main()
