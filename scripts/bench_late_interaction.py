#!/usr/bin/env python
"""Late interaction (ColBERT's MaxSim, untrained) as extra fusion features: measured on the dev split.

For every embedded row of the index (an entry's names, definition, plain English, ...), the model's
token vectors are kept; a question's token vectors are compared with them, and a row scores the
mean over the question's tokens of the best cosine among the row's tokens. Each entry gets four
features: its best row, and its term, definition and plain-English rows (a missing row takes the
best). They are added to the shipped features and the listwise ranker is cross-validated by entry
on the dev split exactly as `scripts/tune_fusion.py` does, beside the features without late
interaction. (This script measured the variants that the shipped late interaction,
search_api/late.py, was chosen from: `lean`, int8 question tokens; the product then went on to
count the question's content tokens only, to score an entry's tokens together, and to score 20
candidates, each chosen on dev with scripts/tune_fusion.py: README, Ranking.)

Variants: `full` (every row, every token), `lean` (names, definition and plain English only;
stop words and punctuation left out of the entries' tokens), `lean-pca128` (lean, vectors
projected to 128 dimensions). Each prints the tokens kept and what they would take as float16.
Token vectors come from the full-precision ONNX export on both sides (`--query-tokens int8`: the
questions' from the int8 copy); the shipped features use GLOSSARY_QUERY_ENCODER as served.
`--candidates N` scores MaxSim for each question's N best entries by the shipped ranker only. With
`--test`, the variant's weights, fitted on all of dev at its best cross-validated penalty, are
scored once on the test split (for reporting, never for choosing).

    .venv/bin/python scripts/bench_late_interaction.py [--index DIR] [--variants full,lean] [--test]
        [--query-tokens int8] [--candidates 50]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.encoder import DEFAULT_MODEL
from indexer.onnx_encoder import OnnxEncoder, load_onnx_encoder
from indexer.paths import BUNDLED_QUERIES, default_index_dir
from indexer.texts import embedding_texts
from search_api.evaluation import EvalQuery, load_queries
from search_api.fusion import FEATURES, LATE_FEATURES
from search_api.fusion_learning import PENALTIES, cross_validate, fit, fold_of, fused, ranks, signals, summary
from search_api.searcher import Searcher
from search_api.settings import Settings

FIELDS = ("term", "definition", "plain_english")
BASE = len(FEATURES) - len(LATE_FEATURES)  # the features without the shipped late interaction
STOP = set(STOPWORDS_EN_PLUS)
WORD = re.compile(r"\w")


class RowTokens:
    """Every kept row's token vectors, one matrix, and where each row starts."""

    def __init__(self, searcher: Searcher, onnx: OnnxEncoder, variant: str) -> None:
        texts = {(e.id, field): text for e in searcher.entries for field, text in embedding_texts(e)}
        lean = variant.startswith("lean")
        rows = [(r.entry_id, r.field) for r in searcher.index.rows if not lean or r.field in FIELDS]
        blocks = []
        for row in rows:
            vectors = onnx.token_vectors(texts[row])
            if lean:
                keep = [i for i, t in enumerate(onnx.token_strings(texts[row])) if t not in STOP and WORD.search(t)]
                vectors = vectors[keep] if keep else vectors
            blocks.append(vectors)
        self.offsets = np.cumsum([0] + [len(b) for b in blocks[:-1]])
        self.matrix = np.vstack(blocks).astype(np.float32)
        self.projection: np.ndarray | None = None
        if variant.endswith("pca128"):
            sample = self.matrix[np.random.default_rng(0).choice(len(self.matrix), 50_000, replace=False)]
            self.projection = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)[2][:128].T
            self.matrix = self._project(self.matrix)
        position = {entry.id: i for i, entry in enumerate(searcher.entries)}
        self.entry = np.array([position[entry_id] for entry_id, _ in rows])
        self.field = np.array([field for _, field in rows])
        self.entries = len(searcher.entries)

    def _project(self, vectors: np.ndarray) -> np.ndarray:
        if self.projection is None:
            return vectors
        projected = vectors @ self.projection
        return (projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def features(self, query_tokens: np.ndarray) -> np.ndarray:
        """(entries, 1 + len(FIELDS)): MaxSim of the best row, then of each field's row."""
        per_row = np.maximum.reduceat(self._project(query_tokens) @ self.matrix.T, self.offsets, axis=1).mean(axis=0)
        best = np.full(self.entries, -1.0, dtype=np.float32)
        np.maximum.at(best, self.entry, per_row)
        columns = [best]
        for field in FIELDS:
            column = best.copy()
            chosen = self.field == field
            column[self.entry[chosen]] = per_row[chosen]
            columns.append(column)
        return np.stack(columns, axis=1)


def dataset(searcher: Searcher, queries: list[EvalQuery]) -> tuple[np.ndarray, np.ndarray, list[EvalQuery]]:
    """The shipped features of the answerable queries (as tune_fusion.py computes them), their answers, the queries."""
    answerable = [q for q in queries if q.expected is not None]
    position = {entry.id: i for i, entry in enumerate(searcher.entries)}
    features, _ = signals(searcher, answerable)
    return features[..., :BASE], np.array([position[q.expected or ""] for q in answerable]), answerable


def line(label: str, rank: np.ndarray, blind: np.ndarray) -> str:
    r1, mrr = summary(rank)
    b1, bmrr = summary(rank[blind])
    return f"| {label} | {r1:.3f} | {mrr:.3f} | {b1:.3f} | {bmrr:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--variants", default="full,lean,lean-pca128")
    parser.add_argument("--test", action="store_true", help="also score the chosen weights on the test split, once")
    parser.add_argument(
        "--query-tokens",
        choices=("full", "int8"),
        default="full",
        help="which ONNX copy gives the questions' token vectors (the rows' are always full precision)",
    )
    parser.add_argument(
        "--candidates",
        type=int,
        default=0,
        help="score MaxSim only for each question's N best entries by the shipped ranker (0: every entry); "
        "the others take the lowest candidate's value",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    searcher = Settings().load_searcher(index=args.index)  # as `glossary serve` loads it (GLOSSARY_*)
    searcher.late = None  # this script computes its own late-interaction features, beside the others
    onnx = load_onnx_encoder(DEFAULT_MODEL)
    asker = load_onnx_encoder(DEFAULT_MODEL, int8=args.query_tokens == "int8")
    shipped = searcher.candidate_weights.vector()[:BASE]  # what chooses late interaction's candidates for this index

    def late(rows: RowTokens, features: np.ndarray, questions: list[EvalQuery]) -> np.ndarray:
        extra = np.stack([rows.features(asker.token_vectors(searcher.names.corrected(q.query))) for q in questions])
        if args.candidates:
            for i, best in enumerate(np.argsort(-fused(features, shipped), axis=1)[:, : args.candidates]):
                floor = extra[i, best].min(axis=0)
                outside = np.ones(extra.shape[1], dtype=bool)
                outside[best] = False
                extra[i, outside] = floor
        return extra

    dev_x, dev_y, dev_q = dataset(searcher, load_queries(BUNDLED_QUERIES, set(searcher.by_id), "dev"))
    folds = np.array([fold_of(q.expected or "") for q in dev_q])
    blind = np.array([q.origin == "blind" for q in dev_q])
    test = dataset(searcher, load_queries(BUNDLED_QUERIES, set(searcher.by_id), "test")) if args.test else None

    def cross_validated(features: np.ndarray, penalty: float) -> np.ndarray:
        return ranks(cross_validate(features, dev_y, folds, penalty), dev_y)

    print(f"dev: {len(dev_q)} answerable questions ({blind.sum()} blind), {len(searcher.entries)} entries")
    print("| ranker (dev, 5-fold CV by entry) | R@1 | MRR@10 | blind R@1 | blind MRR@10 |")
    print("| --- | --- | --- | --- | --- |")
    base = {p: cross_validated(dev_x, p) for p in PENALTIES}
    best_base = max(PENALTIES, key=lambda p: (summary(base[p])[0], summary(base[p])[1]))
    print(line(f"shipped features, penalty {best_base:g}", base[best_base], blind))
    for variant in args.variants.split(","):
        started = time.perf_counter()
        rows = RowTokens(searcher, onnx, variant)
        built = time.perf_counter() - started
        extra = late(rows, dev_x, dev_q)
        print(
            f"| ({variant}: {len(rows.matrix):,} tokens, {rows.matrix.nbytes / 2 / 2**20:,.0f} MB as float16, "
            f"{built:.0f} s to embed; {time.perf_counter() - started - built:.0f} s for the dev questions) | | | | |"
        )
        print(line(f"{variant}: MaxSim of the best row alone", ranks(extra[..., 0], dev_y), blind))
        features = np.concatenate([dev_x, extra], axis=2)
        tried = {p: cross_validated(features, p) for p in PENALTIES}
        best = max(PENALTIES, key=lambda p: (summary(tried[p])[0], summary(tried[p])[1]))
        for penalty in PENALTIES:
            print(line(f"{variant}: shipped + MaxSim, penalty {penalty:g}", tried[penalty], blind))
        if test is not None:
            test_x, test_y, test_q = test
            test_blind = np.array([q.origin == "blind" for q in test_q])
            test_extra = late(rows, test_x, test_q)
            held_extra = np.concatenate([test_x, test_extra], axis=2)
            for label, train, held, penalty in (
                (f"test: shipped features, penalty {best_base:g}", dev_x, test_x, best_base),
                (f"test: {variant}, shipped + MaxSim, penalty {best:g}", features, held_extra, best),
            ):
                weights = fit(train, dev_y, penalty)
                print(line(label, ranks(fused(held, weights), test_y), test_blind), flush=True)


if __name__ == "__main__":
    main()
