#!/usr/bin/env python
"""Learn the fusion weights and the relevance floor on the dev split, cross-validated by entry.

The ranker is linear over the features of search_api/fusion.py. Its weights are fitted as a
listwise ranker (softmax over all entries, the right one should win) with an L2 penalty, on the
answerable dev queries only. The penalty is chosen by 5-fold cross-validation whose folds split
by entry, so no entry's questions are both trained and scored on: the figure printed for each
penalty is what a glossary's unseen questions can expect. The final weights are fitted on all
dev queries; the floor is then the lowest fused score that leaves at least NONE_TARGET (95%) of
the unanswerable dev queries with no hits. Nothing here reads the test split.

Two sets are learned per glossary. `no_tokens`, for indexes without a token store (large
glossaries), from the features without late interaction; it also chooses the entries that late
interaction scores. Then `tokens`, for indexes with a store, from every feature, the
late-interaction columns computed with the candidates that `no_tokens` chooses. The index must
have a token store, and its glossary everyday descriptions (`described_as`): the pair learned on it
is `described_tokens` / `described_no_tokens`. The same glossary without its descriptions is then
indexed at --plain-index (default: the index's path + `.plain`; only what changed is embedded on a
later run) and gives `tokens` / `no_tokens`, for glossaries that have none.

    .venv/bin/python scripts/tune_fusion.py [--index DIR] [--plain-index DIR] [--queries FILE] [--write]

With --write, the weights go to search_api/fusion_weights.json, which the searcher loads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from indexer.build import build_index
from indexer.encoder import available_cores
from indexer.onnx_encoder import load_runtime_encoder
from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.evaluation import EvalQuery, load_queries
from search_api.fusion import FEATURES, LATE_FEATURES, WEIGHTS_FILE, FusionWeights
from search_api.fusion_learning import (
    LOOKUP,
    PENALTIES,
    DevSet,
    Embedded,
    choose_floor,
    cross_validate,
    dev_set,
    embed,
    fit,
    fold_of,
    ranks,
    summary,
)
from search_api.searcher import Searcher
from search_api.settings import Settings

LATE = [FEATURES.index(name) for name in LATE_FEATURES]


def learn(searcher: Searcher, dev: DevSet, label: str, late: bool) -> dict[str, object]:
    """Cross-validate each penalty, fit on all of dev at the best, choose the floor; print as it goes."""
    features, none_features = dev.features, dev.none_features
    if not late:
        features, none_features = features.copy(), none_features.copy()
        features[..., LATE] = 0.0
        none_features[..., LATE] = 0.0
    answers = dev.answers
    folds = np.array([fold_of(q.expected or "") for q in dev.answerable])
    blind = np.array([q.origin == "blind" for q in dev.answerable])
    print(f"{label}: penalty   CV R@1  CV MRR@10  blind R@1  blind MRR@10")
    results = {}
    for penalty in PENALTIES:
        rank = ranks(cross_validate(features, answers, folds, penalty), answers)
        results[penalty] = summary(rank)
        r1, mrr = results[penalty]
        b1, bmrr = summary(rank[blind])
        print(f"{label}: {penalty:<9g} {r1:.3f}   {mrr:.3f}      {b1:.3f}      {bmrr:.3f}")
    penalty = max(PENALTIES, key=lambda p: results[p][1])
    weights = fit(features, answers, penalty)
    floor = choose_floor(none_features, dev.none_names, weights)
    print(f"{label}: chosen penalty {penalty:g}; floor {floor}")
    print(f"{label}: " + ", ".join(f"{name} {value:.3f}" for name, value in zip(FEATURES, weights, strict=True)))
    return {
        "weights": {name: round(float(value), 4) for name, value in zip(FEATURES, weights, strict=True)},
        "floor": floor,
        "penalty": penalty,
        "dev_cv": {"recall@1": round(results[penalty][0], 4), "mrr@10": round(results[penalty][1], 4)},
    }


def learn_pair(
    searcher: Searcher, queries: list[EvalQuery], embedded: Embedded, prefix: str
) -> dict[str, dict[str, object]]:
    """The two sets of one glossary: without late interaction (it also chooses the candidates), then with."""
    embedded = embed(searcher, queries, embedded)  # the questions as this glossary reads them
    dev = dev_set(searcher, queries, embedded)
    blind = sum(q.origin == "blind" for q in dev.answerable)
    print(f"dev: {len(dev.answerable)} answerable queries ({blind} blind), {len(dev.none_names)} unanswerable")
    no_tokens = learn(searcher, dev, f"{prefix}no_tokens", late=False)
    chooser = FusionWeights(no_tokens["weights"], float(no_tokens["floor"]), LOOKUP)  # type: ignore[arg-type]
    if chooser.vector().tolist() != searcher.candidate_weights.vector().tolist():
        searcher.candidate_weights = chooser  # late interaction scores the candidates these weights choose
        dev = dev_set(searcher, queries, embedded)
    tokens = learn(searcher, dev, f"{prefix}tokens", late=True)
    return {f"{prefix}tokens": tokens, f"{prefix}no_tokens": no_tokens}


def plain_index(searcher: Searcher, out: Path) -> Path:
    """The index of the same glossary without its everyday descriptions, built (or brought up to date) at `out`."""
    entries = [entry.model_copy(update={"described_as": ()}) for entry in searcher.entries]
    model = searcher.index.manifest.model
    print(f"the glossary without its descriptions: indexing it at {out}")
    build_index(
        entries,
        out,
        model,
        lambda: load_runtime_encoder(model, available_cores(), "onnx"),
        "the indexed glossary without described_as (scripts/tune_fusion.py)",
        query_model=searcher.index.manifest.query_model,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument(
        "--plain-index",
        type=Path,
        help="where to build the glossary's index without descriptions (default: INDEX.plain)",
    )
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    parser.add_argument("--write", action="store_true", help=f"write the weights to {WEIGHTS_FILE.name}")
    args = parser.parse_args()
    torch.manual_seed(0)
    searcher = Settings().load_searcher(index=args.index)  # as `glossary serve` loads it (GLOSSARY_*)
    if searcher.late is None:
        raise SystemExit(f"the index at {args.index} has no token store; rebuild it with: glossary index")
    if not searcher.described:
        raise SystemExit(f"the glossary indexed at {args.index} has no everyday descriptions (described_as)")
    print(f"query encoder: {searcher.encoder.runtime}")
    queries = load_queries(args.queries, set(searcher.by_id), "dev")
    embedded = embed(searcher, queries)  # the plain glossary reuses every reading the two share
    learned = learn_pair(searcher, queries, embedded, "described_")
    plain_dir = plain_index(searcher, args.plain_index or args.index.with_name(args.index.name + ".plain"))
    plain = Settings().load_searcher(encoder=searcher.encoder, index=plain_dir)
    learned = {**learn_pair(plain, queries, embedded, ""), **learned}
    if args.write:
        payload = {
            **learned,
            "lookup": LOOKUP,
            "chosen_by": "scripts/tune_fusion.py --write",
            "query_encoder": Settings().query_encoder,
            "dev_queries": sum(q.expected is not None for q in queries),
            "entries": len(searcher.entries),
        }
        WEIGHTS_FILE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
