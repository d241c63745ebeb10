"""Oracle: the dense features (weighted best and second field, each field's cosine) equal brute-force numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.texts import EMBEDDED_FIELDS
from indexer.validation import load_glossary
from search_api.fusion import FEATURES, FIELD_WEIGHTS, SECOND_FIELD_SHARE, FusionWeights, fuse, saturate
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
        signals = searcher.signals("", query)
        dense, best_row = signals.dense, signals.best_row
        weights = np.array([FIELD_WEIGHTS.get(row.field, 1.0) for row in searcher.index.rows])
        similarities = (vectors @ query) * weights
        for position in range(len(searcher.entries)):
            rows = np.flatnonzero(owners == position)
            best, second = np.sort(similarities[rows])[::-1][:2]
            expected = (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second
            assert np.isclose(dense[position], expected, atol=1e-6)
            assert best_row[position] == rows[np.argmax(similarities[rows])]
            cosines = {searcher.index.rows[row].field: vectors[row] @ query for row in rows}
            for field in EMBEDDED_FIELDS:  # a field the entry lacks takes its best field's cosine
                column = FEATURES.index(f"cos_{field}")
                assert np.isclose(
                    signals.features[position, column], cosines.get(field, max(cosines.values())), atol=1e-6
                )


def test_fusion_arithmetic() -> None:
    features = np.zeros((2, len(FEATURES)), dtype=np.float32)
    features[0, FEATURES.index("dense")], features[1, FEATURES.index("dense")] = 0.5, 0.2
    features[0, FEATURES.index("lexical")] = saturate(np.array([8.0], dtype=np.float32), 8.0)[0]
    features[1, FEATURES.index("exact")] = 1.0
    weights = FusionWeights({"dense": 1.0, "lexical": 0.4, "exact": 0.5}, floor=0.0, lookup=2.0)
    assert features[0, FEATURES.index("lexical")] == 0.5
    assert fuse(features, weights).tolist() == [np.float32(0.5 + 0.4 * 0.5), np.float32(0.2 + 0.5 + 2.0)]
    only_name = FusionWeights.only("name")
    assert fuse(features, only_name).tolist() == [0.0, 1.0] and only_name.floor < 0
    assert weights.with_overrides({"floor": 0.3, "lexical": 1.0}) == FusionWeights(
        {"dense": 1.0, "lexical": 1.0, "exact": 0.5}, floor=0.3, lookup=2.0
    )
