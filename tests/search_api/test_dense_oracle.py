"""Oracle: the dense signal (FAISS search, weighted best and second field per entry) equals brute-force numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.validation import load_glossary
from search_api.fusion import FIELD_WEIGHTS, SECOND_FIELD_SHARE, FusionWeights, fuse, saturate
from search_api.searcher import Searcher

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"


def test_dense_scores_match_brute_force(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    build_index(load_glossary(MINI), tmp_path / "index", encoder.name, lambda: encoder)
    searcher = Searcher.load(tmp_path / "index", encoder=encoder)
    vectors = searcher.index.row_vectors()
    owners = np.array([searcher.entries.index(searcher.by_id[row.entry_id]) for row in searcher.index.rows])
    rng = np.random.default_rng(7)
    for _ in range(20):
        query = rng.standard_normal(encoder.dimension).astype(np.float32)
        query /= np.linalg.norm(query)
        dense, best_row = searcher._dense(query)
        weights = np.array([FIELD_WEIGHTS.get(row.field, 1.0) for row in searcher.index.rows])
        similarities = (vectors @ query) * weights
        for position in range(len(searcher.entries)):
            rows = np.flatnonzero(owners == position)
            best, second = np.sort(similarities[rows])[::-1][:2]
            expected = (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second
            assert np.isclose(dense[position], expected, atol=1e-6)
            assert best_row[position] == rows[np.argmax(similarities[rows])]


def test_fusion_arithmetic() -> None:
    dense = np.array([0.5, 0.2], dtype=np.float32)
    lexical = np.array([8.0, 0.0], dtype=np.float32)
    name = np.array([0.0, 1.0], dtype=np.float32)
    weights = FusionWeights(dense=1.0, lexical=0.4, name=0.5, lexical_half=8.0, floor=0.0)
    assert saturate(lexical, 8.0).tolist() == [0.5, 0.0]
    assert fuse(dense, lexical, name, weights).tolist() == [np.float32(0.5 + 0.4 * 0.5), np.float32(0.2 + 0.5)]
    only_name = FusionWeights.only("name")
    assert fuse(dense, lexical, name, only_name).tolist() == [0.0, 1.0] and only_name.floor < 0
