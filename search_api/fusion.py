"""Fusing every signal into one score per entry: a linear ranker over a few features.

    fused = sum(weight[f] * feature[f]) + lookup * exact

Each feature is on an absolute scale (cosines, BM25 saturated into [0, 1), name matches in
[0, 1]), so the fused score means the same for every query and a fixed relevance floor can drop
hits that nothing supports: gibberish, or questions the glossary cannot answer.

The features (search_api/features.py builds them):

- dense: the entry's field cosines aggregated (best field 0.8, second best 0.2, analogy and
  example matches discounted); cos_<field>: the query's cosine with each embedded field
  (names, definition, plain English, analogy, example, usage, misconceptions, everyday
  descriptions; a field the entry lacks takes its best field's value); best_field: the best of
  them, undiscounted;
- lexical: BM25 over names and prose; lexical_names: BM25 over the names alone (a question
  that merely mentions a neighbouring concept's name should not rank that neighbour first:
  this feature's weight is learned negative);
- exact, fuzzy, contained: the entry's name typed alone, misspelt, or inside a longer question;
- late, late_term, late_definition, late_entry: late interaction, the question's token vectors
  against the entry's stored ones (its best row, names, definition, all its tokens together;
  search_api/late.py), on indexes with a token store.

The weights were learned by scripts/tune_fusion.py (a listwise linear ranker, regularised,
cross-validated with folds split by entry on the dev split of the evaluation set) and live in
fusion_weights.json beside this module: one set for indexes with a token store, one for indexes
without (large glossaries), whose late-interaction weights are 0; and each of the two learned
twice, on the bundled glossary with its everyday descriptions (`described_as`) and without them,
since a glossary a user brings usually has none and ranks best with weights learned without. An
exact name match is a lookup: `lookup` is a fixed bonus (not learned) that puts the named entry
first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]

# Dense aggregation per entry: each field's cosine is scaled by its field weight, and the
# entry scores (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second-best field.
# Analogies and examples describe other things on purpose (a chef, a spam filter), so a
# match there is weaker evidence than one in the definition.
FIELD_WEIGHTS: dict[str, float] = {"analogy": 0.8, "example": 0.85}
SECOND_FIELD_SHARE = 0.2
# BM25 / max IDF of the corpus is mapped into [0, 1) by b / (b + LEXICAL_HALF).
LEXICAL_HALF = 2.9

FEATURES: tuple[str, ...] = (
    "dense",
    "cos_term",
    "cos_definition",
    "cos_plain_english",
    "cos_analogy",
    "cos_example",
    "cos_usage",
    "cos_misconceptions",
    "cos_described_as",
    "best_field",
    "lexical",
    "exact",
    "fuzzy",
    "contained",
    "lexical_names",
    "late",
    "late_term",
    "late_definition",
    "late_entry",
)
LATE_FEATURES = FEATURES[FEATURES.index("late") :]
# fusion_weights.json: for glossaries without everyday descriptions (`described_as`), with a token
# store and without; then the same two for glossaries whose entries have descriptions.
WEIGHT_SETS = ("tokens", "no_tokens", "described_tokens", "described_no_tokens")
WEIGHTS_FILE = Path(__file__).resolve().parent / "fusion_weights.json"
# A name match this strong (exact, or within typo distance) shows a hit even below the floor.
NAME_EVIDENCE = 0.75


@dataclass(frozen=True)
class FusionWeights:
    """One weight per feature, the floor a fused score needs to be shown, and the lookup bonus."""

    weights: Mapping[str, float] = field(default_factory=dict)
    floor: float = 0.0
    lookup: float = 0.0

    @classmethod
    def learned(cls, tokens: bool = True, described: bool = False) -> FusionWeights:
        """The weights scripts/tune_fusion.py chose (fusion_weights.json), for an index with a token store
        (`tokens`) or without one, of a glossary whose entries have everyday descriptions (`described`,
        see `has_descriptions`) or not."""
        return _learned(weight_set(tokens, described))

    @classmethod
    def only(cls, signal: str) -> FusionWeights:
        """One signal alone, no floor: dense, lexical, or name (exact, fuzzy and contained matches)."""
        features = ("exact", "fuzzy", "contained") if signal == "name" else (signal,)
        return cls({f: 1.0 for f in features}, floor=-math.inf)

    def with_overrides(self, overrides: Mapping[str, float]) -> FusionWeights:
        """These weights with some replaced: feature names, `floor` or `lookup`."""
        unknown = set(overrides) - {*FEATURES, "floor", "lookup"}
        if unknown:
            raise ValueError(
                f"unknown fusion weight(s) {', '.join(sorted(unknown))}; use {', '.join(FEATURES)}, floor, lookup"
            )
        weights = {**self.weights, **{k: v for k, v in overrides.items() if k in FEATURES}}
        return FusionWeights(weights, overrides.get("floor", self.floor), overrides.get("lookup", self.lookup))

    def vector(self) -> Scores:
        """The weights in FEATURES order (0 for a feature without one)."""
        return np.array([self.weights.get(name, 0.0) for name in FEATURES], dtype=np.float32)


def weight_set(tokens: bool, described: bool) -> str:
    """The name of the weight set for an index with or without a token store, of a glossary with or
    without everyday descriptions."""
    return ("described_" if described else "") + ("tokens" if tokens else "no_tokens")


def has_descriptions(described: int, entries: int) -> bool:
    """Whether a glossary ranks as one with everyday descriptions: at least half its entries have some."""
    return entries > 0 and 2 * described >= entries


@lru_cache(maxsize=len(WEIGHT_SETS))
def _learned(which: str) -> FusionWeights:
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    chosen = data[which]
    return FusionWeights(dict(chosen["weights"]), float(chosen["floor"]), float(data["lookup"]))


def saturate(bm25: Scores, half: float = LEXICAL_HALF) -> Scores:
    """Map BM25 scores into [0, 1): a score of `half` maps to 0.5."""
    return (bm25 / (bm25 + half)).astype(np.float32)


def max_idf(entries: int) -> float:
    """The largest IDF BM25 can give in a corpus of this size (a term found in one entry)."""
    return math.log(1 + (entries - 0.5) / 1.5)


EXACT = FEATURES.index("exact")


def fuse(features: Scores, weights: FusionWeights) -> Scores:
    """The fused score of every entry, from its features (one row per entry, FEATURES order)."""
    fused: Scores = (features @ weights.vector() + weights.lookup * features[:, EXACT]).astype(np.float32)
    return fused


def visible(fused: Scores, name: Scores, weights: FusionWeights) -> npt.NDArray[np.bool_]:
    """Which entries may be shown: fused score at the floor or above, or a strong name match."""
    shown: npt.NDArray[np.bool_] = (fused >= weights.floor) | (name >= NAME_EVIDENCE)
    return shown
