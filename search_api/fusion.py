"""Fusing the three signals into one score per entry.

    fused = w_dense * cosine + w_lexical * b / (b + lexical_half) + w_name * name,
    b = bm25 / max_idf(number of entries)

Each term is on an absolute scale (no per-query normalisation), so the fused score
means the same thing for every query and a fixed relevance floor can drop hits that
nothing supports: gibberish, or questions the glossary cannot answer. BM25 grows with the
log of the corpus size (through IDF), so it is measured in units of the corpus's largest
IDF: the same floor then suits an 8-entry glossary and a 361-entry one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]

# Dense aggregation per entry: each field's cosine is scaled by its field weight, and the
# entry scores (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second-best field.
# Analogies and examples describe other things on purpose (a chef, a spam filter), so a
# match there is weaker evidence than one in the definition; agreement of two fields is
# stronger evidence than one field alone. Chosen on the evaluation set (README, Ranking).
FIELD_WEIGHTS: dict[str, float] = {"analogy": 0.8, "example": 0.85}
SECOND_FIELD_SHARE = 0.2


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the fused score; `floor` is the fused score a hit needs to be shown.

    The defaults were chosen by scripts/tune_fusion.py on the bundled evaluation set
    (README, "Ranking").
    """

    dense: float = 1.0
    lexical: float = 3.0
    name: float = 0.6
    lexical_half: float = 2.9
    floor: float = 0.85

    @classmethod
    def only(cls, signal: str) -> FusionWeights:
        """One signal alone, no floor (to measure each signal separately)."""
        weights = {"dense": 0.0, "lexical": 0.0, "name": 0.0, signal: 1.0}
        return cls(**weights, floor=-1.0)

    def unfiltered(self) -> FusionWeights:
        """The same weights with no relevance floor."""
        return FusionWeights(self.dense, self.lexical, self.name, self.lexical_half, floor=-1.0)


# A name match this strong (exact, or within typo distance) shows a hit even below the floor.
NAME_EVIDENCE = 0.75


def saturate(bm25: Scores, half: float) -> Scores:
    """Map BM25 scores into [0, 1): a score of `half` maps to 0.5."""
    return (bm25 / (bm25 + half)).astype(np.float32)


def max_idf(entries: int) -> float:
    """The largest IDF BM25 can give in a corpus of this size (a term found in one entry)."""
    return math.log(1 + (entries - 0.5) / 1.5)


def fuse(dense: Scores, lexical: Scores, name: Scores, weights: FusionWeights, lexical_unit: float = 1.0) -> Scores:
    """The fused score of every entry (arrays indexed by entry position); BM25 is divided by `lexical_unit`."""
    bm25 = saturate(lexical / lexical_unit, weights.lexical_half)
    fused: Scores = (weights.dense * dense + weights.lexical * bm25 + weights.name * name).astype(np.float32)
    return fused


def visible(fused: Scores, name: Scores, weights: FusionWeights) -> npt.NDArray[np.bool_]:
    """Which entries may be shown: fused score at the floor or above, or a strong name match."""
    shown: npt.NDArray[np.bool_] = (fused >= weights.floor) | (name >= NAME_EVIDENCE)
    return shown
