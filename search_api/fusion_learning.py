"""Learning the fusion weights: a listwise linear ranker over the features, cross-validated by entry.

scripts/tune_fusion.py uses this to choose the weights on the dev split; scripts/ablate_fusion.py
to measure each feature group's share on the test split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from indexer.encoder import Tokens
from search_api.evaluation import EvalQuery
from search_api.fusion import EXACT, NAME_EVIDENCE
from search_api.searcher import Searcher

PENALTIES = (1e-3, 3e-3, 1e-2, 3e-2)
FOLDS = 5
TEMPERATURE = 10.0  # softmax over fused scores x 10: fused scores of rivals differ by tenths
LOOKUP = 5.0  # an exact name match ranks first; fixed, not learned
NONE_TARGET = 0.95  # 90% is the target on unseen questions; dev asks for a margin above it

Tensor = npt.NDArray[np.float32]
Embedded = Mapping[str, tuple[Tensor, Tokens]]  # a question -> its vector and its token vectors


def fold_of(entry_id: str) -> int:
    return int(hashlib.sha256(f"fold:{entry_id}".encode()).hexdigest()[:8], 16) % FOLDS


def fit(features: Tensor, answers: npt.NDArray[np.int64], penalty: float) -> Tensor:
    """Weights w minimising softmax cross-entropy of (features @ w) over entries, plus penalty * |w|^2."""
    x, y = torch.from_numpy(features), torch.from_numpy(answers)
    w = torch.zeros(features.shape[2], requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = torch.nn.functional.cross_entropy((x @ w) * TEMPERATURE, y) + penalty * (w**2).sum()
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    return w.detach().numpy().astype(np.float32)


def fused(features: Tensor, weights: Tensor, lookup: float = LOOKUP) -> Tensor:
    scores: Tensor = features @ weights + lookup * features[..., EXACT]
    return scores


def ranks(scores: Tensor, answers: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    right = scores[np.arange(len(answers)), answers]
    result: npt.NDArray[np.int64] = (scores > right[:, None]).sum(axis=1) + 1
    return result


def summary(rank: npt.NDArray[np.int64]) -> tuple[float, float]:
    return float(np.mean(rank == 1)), float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0)))


def cross_validate(
    features: Tensor, answers: npt.NDArray[np.int64], folds: npt.NDArray[np.int64], penalty: float
) -> Tensor:
    """Every query scored by weights fitted on the folds that do not hold its entry."""
    scores = np.zeros(features.shape[:2], dtype=np.float32)
    for fold in range(FOLDS):
        held = folds == fold
        scores[held] = fused(features[held], fit(features[~held], answers[~held], penalty))
    return scores


def choose_floor(features: Tensor, names: Tensor, weights: Tensor, lookup: float = LOOKUP) -> float:
    """The lowest floor that leaves at least NONE_TARGET of these (unanswerable) queries with no hits."""
    best = fused(features, weights, lookup).max(axis=1)
    rejectable = np.sort(best[names.max(axis=1) < NAME_EVIDENCE])  # a typed name is shown whatever the floor
    needed = int(np.ceil(NONE_TARGET * len(best)))
    if needed > len(rejectable):
        raise SystemExit(f"no floor rejects {NONE_TARGET:.0%} of the unanswerable dev queries")
    return round(float(rejectable[needed - 1]) + 1e-3, 3)


def embed(
    searcher: Searcher, queries: list[EvalQuery], known: Embedded | None = None
) -> dict[str, tuple[Tensor, Tokens]]:
    """Each question's vector and token vectors, keyed by the question as `searcher` reads it
    (`NameIndex.corrected`), from one encoder call over the readings that `known` (the embeddings
    another index of the same model made) does not hold yet. Two glossaries may read a question
    differently: a word one of them uses is no slip there."""
    embedded = dict(known or {})
    read = dict.fromkeys(searcher.names.corrected(q.query) for q in queries)
    missing = [text for text in read if text not in embedded]
    if missing:
        vectors, tokens = searcher.encoder.encode_tokens(missing)
        embedded.update(zip(missing, zip(vectors, tokens, strict=True), strict=True))
    return embedded


def signals(searcher: Searcher, queries: list[EvalQuery], embedded: Embedded | None = None) -> tuple[Tensor, Tensor]:
    """(queries, entries, features) and (queries, entries) name-match scores.

    `embedded`: embeddings already made (`embed`); only readings missing from it are embedded here.
    """
    embedded = embed(searcher, queries, embedded)
    found = [searcher.signals(q.query, *embedded[searcher.names.corrected(q.query)]) for q in queries]
    return np.stack([f.features for f in found]), np.stack([f.name for f in found])


@dataclass(frozen=True)
class DevSet:
    """What fitting needs from the dev queries: answerable ones with their answers, and unanswerable ones."""

    answerable: list[EvalQuery]
    features: Tensor
    answers: npt.NDArray[np.int64]  # position of each answerable query's entry
    none_features: Tensor
    none_names: Tensor


def dev_set(searcher: Searcher, queries: list[EvalQuery], embedded: Embedded | None = None) -> DevSet:
    """The dev queries' features under `searcher`; `embedded` as for `signals` (what is missing embedded here, once)."""
    embedded = embed(searcher, queries, embedded)
    answerable = [q for q in queries if q.expected is not None]
    position = {entry.id: i for i, entry in enumerate(searcher.entries)}
    features, _ = signals(searcher, answerable, embedded)
    none_features, none_names = signals(searcher, [q for q in queries if q.expected is None], embedded)
    answers = np.array([position[q.expected or ""] for q in answerable], dtype=np.int64)
    return DevSet(answerable, features, answers, none_features, none_names)
