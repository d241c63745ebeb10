"""Measuring ranking quality on a set of queries with known answers.

Metrics, for one relevant entry per query: Recall@1, Recall@5, MRR@10, nDCG@10 and
AP@10 (average precision at 10). Queries of kind `none` have no answer; for them we
measure the share answered with no hits at all. tests/search_api/test_evaluation.py
checks these metrics against ranx.

Every bundled query belongs to a split: `dev` (anything may be chosen by looking at it)
or `test` (reported, never tuned on). The split is decided by the entry a query asks for
(`split_of`), so all questions about one entry sit on the same side and a method cannot
learn an entry's wording from its dev questions and be scored on its test ones.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from indexer.encoder import Tokens, Vectors
from indexer.errors import CorpusError
from search_api.fusion import FusionWeights
from search_api.searcher import Searcher

Kind = Literal["paraphrase", "lookup", "acronym", "typo", "none"]
Split = Literal["dev", "test"]
Origin = Literal["author", "blind"]
KINDS: tuple[str, ...] = ("paraphrase", "lookup", "acronym", "typo")
# Extra rows of the report: questions written without the entries in view (the honest ones).
BLIND = "blind"
METRICS: tuple[str, ...] = ("recall@1", "recall@5", "mrr@10", "ndcg@10", "ap@10")
DEPTH = 10


class EvalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str
    expected: str | None
    kind: Kind
    split: Split | None = None
    origin: Origin = "author"  # author: written beside the entries; blind: from the term list only


def split_of(expected: str | None, query: str) -> Split:
    """The split a query belongs to: by its entry id (by its text for unanswerable ones), half each."""
    key = expected if expected is not None else f"none:{query}"
    return "test" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 else "dev"


def load_queries(path: Path, known_ids: set[str], split: Split | None = None) -> list[EvalQuery]:
    """Read a JSONL query file (only one split's queries when `split` is given); problems are reported by line."""
    if not path.is_file():
        raise CorpusError(f"{path}: no such query file")
    queries, problems = [], []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = EvalQuery.model_validate(json.loads(line))
        except (ValueError, ValidationError) as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        if (item.expected is None) != (item.kind == "none"):
            problems.append(f"{path}:{number}: expected must be null exactly when kind is 'none'")
        elif item.expected is not None and item.expected not in known_ids:
            problems.append(f"{path}:{number}: expected id {item.expected!r} is not in the index")
        queries.append(item)
    if problems:
        raise CorpusError("bad evaluation queries:\n" + "\n".join(problems))
    if split is not None:
        if all(q.split is None for q in queries):
            raise CorpusError(f"{path}: no query has a 'split' field, so --split {split} selects nothing")
        queries = [q for q in queries if q.split == split]
    return queries


def rank_metrics(rank: int | None) -> dict[str, float]:
    """The metrics of one query whose single relevant entry came at `rank` (1-based; None: not found)."""
    found = rank is not None and rank <= DEPTH
    assert rank is None or rank >= 1
    return {
        "recall@1": float(rank == 1),
        "recall@5": float(rank is not None and rank <= 5),
        "mrr@10": 1.0 / rank if found and rank else 0.0,
        "ndcg@10": 1.0 / math.log2(rank + 1) if found and rank else 0.0,
        "ap@10": 1.0 / rank if found and rank else 0.0,
    }


@dataclass(frozen=True)
class QueryResult:
    query: EvalQuery
    ranked: list[str]  # entry ids, best first

    @property
    def rank(self) -> int | None:
        expected = self.query.expected
        return self.ranked.index(expected) + 1 if expected in self.ranked else None


@dataclass(frozen=True)
class Report:
    """Per ranker: per kind (and "overall"): metric -> value; plus the share of `none` queries rejected."""

    scores: dict[str, dict[str, dict[str, float]]]
    rejected: dict[str, float]
    counts: dict[str, int]
    results: dict[str, list[QueryResult]]

    def worst(self, ranker: str = "full", limit: int = 10) -> list[QueryResult]:
        """Answerable queries whose expected entry ranked lowest (missing counts as last)."""
        answerable = [r for r in self.results[ranker] if r.query.expected is not None]
        return sorted(answerable, key=lambda r: -(r.rank or DEPTH + 1))[:limit]


RANKERS: dict[str, FusionWeights | None] = {
    "full": None,
    "dense": FusionWeights.only("dense"),
    "lexical": FusionWeights.only("lexical"),
    "name": FusionWeights.only("name"),
}


def evaluate(
    searcher: Searcher,
    queries: list[EvalQuery],
    weights: FusionWeights | None = None,
    embedded: tuple[Vectors, list[Tokens]] | None = None,
) -> Report:
    """Run every query through the full ranker and each signal alone, and average the metrics.

    `embedded`: the queries' vectors and tokens (`Searcher.embed`) when already computed. They
    are computed once, for every ranker.
    """
    vectors, tokens = embedded or searcher.embed([q.query for q in queries], with_tokens=True)
    rankers = {**RANKERS, "full": weights or searcher.weights}
    results: dict[str, list[QueryResult]] = {}
    for name, ranker_weights in rankers.items():
        assert ranker_weights is not None
        results[name] = [
            QueryResult(q, [h.id for h in searcher.rank(q.query, vector, DEPTH, ranker_weights, tokens=asked)[0]])
            for q, vector, asked in zip(queries, vectors, tokens, strict=True)
        ]
    counts: dict[str, int] = defaultdict(int)
    for q in queries:
        counts[q.kind] += 1
        counts[BLIND] += q.origin == BLIND and q.expected is not None
    scores = {name: _average(rows) for name, rows in results.items()}
    rejected = {name: _rejected(rows) for name, rows in results.items()}
    return Report(scores, rejected, dict(counts), results)


def _average(results: list[QueryResult]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for result in results:
        if result.query.expected is None:
            continue
        metrics = rank_metrics(result.rank)
        groups[result.query.kind].append(metrics)
        groups["overall"].append(metrics)
        if result.query.origin == BLIND:
            groups[BLIND].append(metrics)
    return {kind: {m: sum(row[m] for row in rows) / len(rows) for m in METRICS} for kind, rows in groups.items()}


def _rejected(results: list[QueryResult]) -> float:
    none = [r for r in results if r.query.expected is None]
    return sum(not r.ranked for r in none) / len(none) if none else float("nan")
