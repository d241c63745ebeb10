"""Fusing the three signals into one score per entry.

    fused = w_dense * cosine + w_lexical * bm25 / (bm25 + lexical_half) + w_name * name

Each term is on an absolute scale (no per-query normalisation), so the fused score
means the same thing for every query and a fixed relevance floor can drop hits that
nothing supports: gibberish, or questions the glossary cannot answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the fused score; `floor` is the fused score a hit needs to be shown."""

    dense: float = 1.0
    lexical: float = 0.3
    name: float = 0.6
    lexical_half: float = 8.0
    floor: float = 0.45

    @classmethod
    def only(cls, signal: str) -> FusionWeights:
        """One signal alone, no floor (to measure each signal separately)."""
        weights = {"dense": 0.0, "lexical": 0.0, "name": 0.0, signal: 1.0}
        return cls(**weights, floor=-1.0)


def saturate(bm25: Scores, half: float) -> Scores:
    """Map BM25 scores into [0, 1): a score of `half` maps to 0.5."""
    return (bm25 / (bm25 + half)).astype(np.float32)


def fuse(dense: Scores, lexical: Scores, name: Scores, weights: FusionWeights) -> Scores:
    """The fused score of every entry (arrays indexed by entry position)."""
    fused = weights.dense * dense + weights.lexical * saturate(lexical, weights.lexical_half) + weights.name * name
    return fused.astype(np.float32)
