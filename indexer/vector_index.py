"""The FAISS index of the field vectors: exact below a size, approximate (HNSW) from it on.

A glossary's vectors are scanned whole: exact inner product, a millisecond or two. From
`APPROXIMATE_FROM` vectors on, `auto` builds an HNSW graph (`IndexHNSWFlat`, inner product)
instead, which visits a few thousand vectors a query. The build then measures recall@10 against
exact search on `RECALL_QUERIES` of the index's own vectors for growing `efSearch` (the search's
beam width), keeps the first that reaches `RECALL_TARGET`, prints the figure, and the manifest
records both. HNSW keeps the full vectors (its "flat" storage), so the searcher re-scores every
candidate entry's fields exactly: only which entries become candidates is approximate.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from indexer.vectorfile import VectorFile, row_blocks

Vectors = npt.NDArray[np.float32]
VectorIndexChoice = Literal["auto", "flat", "hnsw"]
VECTOR_INDEX_CHOICES: tuple[str, ...] = ("auto", "flat", "hnsw")

APPROXIMATE_FROM = 50_000  # vectors; `auto` builds HNSW from this many on (a flat scan of 50k takes ~2 ms)
HNSW_M = 32  # graph neighbours per vector (memory: about 2 * M * 4 bytes a vector on top of the vector)
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256  # the searcher's beam width when a manifest does not say (it asks for 256 rows)
EF_SEARCH_STEPS = (64, 128, 256, 384, 512, 768, 1024)  # tried in turn until recall@10 reaches the target
RECALL_TARGET = 0.98
RECALL_QUERIES = 500
RECALL_K = 10
_TIE = 1e-5  # a returned row as similar as the exact k-th (duplicated texts tie) counts as found


class VectorIndexInfo(BaseModel):
    """What the manifest says about `vectors.faiss`. Indexes written before it existed are flat."""

    kind: Literal["flat", "hnsw"] = "flat"
    m: int | None = None
    ef_construction: int | None = None
    ef_search: int | None = None
    recall_at_10: float | None = None  # against exact search, on `recall_queries` of the index's vectors
    recall_queries: int | None = None

    def describe(self) -> str:
        if self.kind == "flat":
            return "exact (flat) vector index"
        return (
            f"HNSW vector index (M={self.m}, efSearch={self.ef_search}): recall@10 {self.recall_at_10:.4f} "
            f"against exact search on {self.recall_queries} of its vectors"
        )


def resolve(choice: VectorIndexChoice, count: int) -> Literal["flat", "hnsw"]:
    """The kind `choice` means for `count` vectors."""
    if choice == "auto":
        return "hnsw" if count >= APPROXIMATE_FROM else "flat"
    return choice


def build_vector_index(
    vectors: Vectors | VectorFile, choice: VectorIndexChoice = "auto"
) -> tuple[faiss.Index, VectorIndexInfo]:
    """The FAISS index of `vectors` (normalized rows), and what to record about it.

    The rows are added a block at a time (a build streams them from disk), so the index holds the
    only full copy; recall is measured against the index's own stored vectors.
    """
    count, dimension = vectors.shape
    if resolve(choice, count) == "flat":
        flat = faiss.IndexFlatIP(dimension)
        for block in row_blocks(vectors):
            flat.add(block)
        return flat, VectorIndexInfo()
    index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    for block in row_blocks(vectors):
        index.add(block)
    sample = RecallSample.of(stored_vectors(index))
    for ef_search in EF_SEARCH_STEPS:
        index.hnsw.efSearch = ef_search
        recall = sample.recall(index)
        if recall >= RECALL_TARGET:
            break
    info = VectorIndexInfo(
        kind="hnsw",
        m=HNSW_M,
        ef_construction=HNSW_EF_CONSTRUCTION,
        ef_search=ef_search,
        recall_at_10=round(recall, 4),
        recall_queries=len(sample.rows),
    )
    return index, info


class RecallSample:
    """Some of an index's own vectors as queries, with their exact nearest rows: the yardstick of recall@k.

    Each query's own row is left out of both answers (finding itself is no test). A returned row
    counts when it is as similar as the exact k-th best: texts that occur several times (a term
    shared by senses) have identical vectors, and any of them is a right answer.
    """

    def __init__(
        self, rows: npt.NDArray[np.int64], queries: Vectors, exact: tuple[Vectors, npt.NDArray[np.int64]], k: int
    ):
        self.rows, self.queries, self.k = rows, queries, k
        self.kth = np.array(
            [_without(scores, found, row, k)[-1] for scores, found, row in zip(*exact, rows, strict=True)],
            dtype=np.float32,
        )

    @classmethod
    def of(cls, vectors: Vectors, queries: int = RECALL_QUERIES, k: int = RECALL_K, seed: int = 0) -> RecallSample:
        count = len(vectors)
        size = min(queries, count) if count > 1 else 0  # a single vector has no neighbour to find
        rows = np.random.default_rng(seed).choice(count, size=size, replace=False).astype(np.int64)
        sample = np.ascontiguousarray(vectors[rows])
        if size == 0:
            return cls(rows, sample, (np.zeros((0, 1), dtype=np.float32), np.zeros((0, 1), dtype=np.int64)), k)
        exact = faiss.knn(sample, vectors, min(k + 1, count), metric=faiss.METRIC_INNER_PRODUCT)
        return cls(rows, sample, exact, k)

    def recall(self, index: faiss.Index) -> float:
        """The share of the exact k nearest rows (ties counted) that `index` returns."""
        if len(self.rows) == 0:
            return 1.0
        scores, found = index.search(self.queries, min(self.k + 1, index.ntotal))
        hits = sum(
            int(np.sum(_without(s, f, row, self.k) >= kth - _TIE))
            for s, f, row, kth in zip(scores, found, self.rows, self.kth, strict=True)
        )
        wanted = min(self.k, index.ntotal - 1)
        return hits / (wanted * len(self.rows)) if wanted > 0 else 1.0


def _without(scores: Vectors, rows: npt.NDArray[np.int64], row: int, k: int) -> Vectors:
    """The first k scores, leaving out the query's own row (and rows not found, -1)."""
    kept: Vectors = scores[(rows != row) & (rows >= 0)][:k]
    return kept


def stored_vectors(index: faiss.Index) -> Vectors:
    """The vectors of a flat or HNSW-flat index as a (rows, dimension) array, without a copy when possible."""
    flat = index
    if not isinstance(flat, faiss.IndexFlat) and hasattr(flat, "storage"):
        flat = faiss.downcast_index(flat.storage)
    if isinstance(flat, faiss.IndexFlat):
        if flat.ntotal == 0:
            return np.zeros((0, flat.d), dtype=np.float32)
        buffer = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d)
        return np.asarray(buffer, dtype=np.float32).reshape(flat.ntotal, flat.d)
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)  # another index type: a copy
