#!/usr/bin/env python
"""Each change to the ranker alone and together, on the test split of the evaluation set.

Every learned variant is fitted on the dev split exactly as scripts/tune_fusion.py fits the
shipped weights (same penalty, same floor rule), then scored on the test split, which nothing
was chosen on. Late interaction scores the candidates that the shipped weights for indexes
without a token store choose, in every variant. This script only reports; it writes nothing.
Run it on the bundled index (with its everyday descriptions) and on the `.plain` index that
scripts/tune_fusion.py builds (the same glossary without them) to see what the descriptions add.

    .venv/bin/python scripts/ablate_fusion.py [--index DIR] [--queries FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.evaluation import evaluate, load_queries
from search_api.fusion import FEATURES, LATE_FEATURES, WEIGHTS_FILE, FusionWeights, weight_set
from search_api.fusion_learning import LOOKUP, choose_floor, dev_set, fit
from search_api.settings import Settings

SIGNALS = ("dense", "lexical", "exact", "fuzzy", "contained")
FIELDS = (*(f for f in FEATURES if f.startswith("cos_")), "best_field")
WITHOUT_LATE = tuple(f for f in FEATURES if f not in LATE_FEATURES)
VARIANTS: dict[str, tuple[tuple[str, ...], float]] = {
    "learned weights, the three signals of before": (SIGNALS, LOOKUP),
    "+ per-field cosines": ((*SIGNALS, *FIELDS), LOOKUP),
    "+ names-only BM25": ((*SIGNALS, "lexical_names"), LOOKUP),
    "+ late interaction": ((*SIGNALS, *LATE_FEATURES), LOOKUP),
    "all features but late interaction, no lookup rule": (WITHOUT_LATE, 0.0),
    "all but late interaction + lookup rule (shipped for indexes without a token store)": (WITHOUT_LATE, LOOKUP),
    "all features + lookup rule (shipped)": (FEATURES, LOOKUP),
}
# The release before this one: weights set by hand on the 361-entry glossary's own questions.
BEFORE = FusionWeights({"dense": 1.0, "lexical": 3.0, "exact": 0.6, "fuzzy": 0.6, "contained": 0.6}, floor=0.85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    args = parser.parse_args()
    searcher = Settings().load_searcher(index=args.index)  # as `glossary serve` loads it (GLOSSARY_*)
    if searcher.late is None:
        raise SystemExit(f"the index at {args.index} has no token store; rebuild it with: glossary index")
    shipped = weight_set(tokens=True, described=searcher.described)
    penalty = float(json.loads(WEIGHTS_FILE.read_text("utf-8"))[shipped]["penalty"])
    print(f"{args.index}: {'with' if searcher.described else 'without'} everyday descriptions; shipped set {shipped}")
    dev = dev_set(searcher, load_queries(args.queries, set(searcher.by_id), "dev"))
    test = load_queries(args.queries, set(searcher.by_id), "test")
    variants = {"before: hand-set weights (361-entry release)": BEFORE}
    for name, (chosen, lookup) in VARIANTS.items():
        columns = [FEATURES.index(f) for f in chosen]
        weights = np.zeros(len(FEATURES), dtype=np.float32)
        weights[columns] = fit(dev.features[:, :, columns], dev.answers, penalty)
        floor = choose_floor(dev.none_features, dev.none_names, weights, lookup)
        variants[name] = FusionWeights(dict(zip(FEATURES, map(float, weights), strict=True)), floor, lookup)
    embedded = searcher.embed([q.query for q in test], with_tokens=True)  # once, for every variant
    print(
        f"test split: {sum(q.expected is not None for q in test)} answerable, "
        f"{sum(q.expected is None for q in test)} unanswerable; {len(searcher.entries)} entries"
    )
    print("| ranker | R@1 | MRR@10 | blind R@1 | blind MRR@10 | typo/acronym/lookup R@1 | none -> [] |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, weights in variants.items():
        report = evaluate(searcher, test, weights, embedded)
        full = report.scores["full"]
        names = [r for r in report.results["full"] if r.query.kind in ("typo", "acronym", "lookup")]
        exact = sum(r.rank == 1 for r in names) / len(names)
        print(
            f"| {name} | {full['overall']['recall@1']:.3f} | {full['overall']['mrr@10']:.3f} | "
            f"{full['blind']['recall@1']:.3f} | {full['blind']['mrr@10']:.3f} | {exact:.3f} | "
            f"{report.rejected['full']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
