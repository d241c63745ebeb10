"""The FAISS index: exact below a size, HNSW above it, its recall measured, old manifests still read."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.encoder import DEFAULT_MODEL, SentenceTransformerEncoder
from indexer.storage import MANIFEST, read_index
from indexer.validation import load_glossary
from indexer.vector_index import APPROXIMATE_FROM, RECALL_TARGET, RecallSample, build_vector_index, resolve
from search_api.fusion import FusionWeights
from search_api.searcher import Searcher

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"


def clustered(count: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres: neighbourhoods an approximate index can get wrong."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dimension))
    vectors = centres[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, dimension))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def test_auto_is_exact_below_the_documented_size_and_hnsw_from_it() -> None:
    assert (resolve("auto", APPROXIMATE_FROM - 1), resolve("auto", APPROXIMATE_FROM)) == ("flat", "hnsw")
    assert (resolve("flat", 10**7), resolve("hnsw", 10)) == ("flat", "hnsw")
    assert f"{APPROXIMATE_FROM:,}" in (Path(__file__).parents[2] / "README.md").read_text("utf-8")


def test_recall_tells_a_poor_index_from_a_good_one() -> None:
    vectors = clustered(4000)
    sample = RecallSample.of(vectors, queries=300)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    assert sample.recall(flat) == 1.0
    poor = faiss.IndexHNSWFlat(vectors.shape[1], 2, faiss.METRIC_INNER_PRODUCT)
    poor.hnsw.efConstruction = 4
    poor.add(vectors)
    poor.hnsw.efSearch = 1
    assert sample.recall(poor) < 0.8
    index, info = build_vector_index(vectors, "hnsw")
    assert isinstance(index, faiss.IndexHNSWFlat) and info.kind == "hnsw"
    assert info.recall_at_10 is not None and info.recall_at_10 >= RECALL_TARGET
    assert info.recall_queries == 500 and info.ef_search == index.hnsw.efSearch
    assert abs(sample.recall(index) - info.recall_at_10) < 0.05  # another sample, the same quality


def test_hnsw_index_answers_as_the_exact_one(tmp_path: Path, encoder: SentenceTransformerEncoder) -> None:
    entries = load_glossary(MINI)
    build_index(entries, tmp_path / "flat", DEFAULT_MODEL, lambda: encoder)
    report = build_index(entries, tmp_path / "hnsw", DEFAULT_MODEL, lambda: encoder, vector_index="hnsw")
    assert report.vector_index.kind == "hnsw" and report.vector_index.recall_at_10 == 1.0
    manifest = json.loads((tmp_path / "hnsw" / MANIFEST).read_text("utf-8"))
    assert manifest["vector_index"]["kind"] == "hnsw" and manifest["vector_index"]["recall_at_10"] == 1.0
    # An approximate index keeps no token store (indexer.tokens): compare it with the exact one ranked
    # by the weights for indexes without a store.
    exact = Searcher.load(
        tmp_path / "flat", encoder=encoder, weights=FusionWeights.learned(tokens=False, described=True)
    )
    approximate = Searcher.load(tmp_path / "hnsw", encoder=encoder)
    assert isinstance(approximate.index.vectors, faiss.IndexHNSWFlat) and not approximate.rank_all
    for query in ["what happens when a model makes predictions?", "backprop", "overfiting", "dropout"]:
        got, expected = approximate.search(query, k=5), exact.search(query, k=5)
        assert [(h.id, h.matched_field, h.snippet) for h in got] == [
            (h.id, h.matched_field, h.snippet) for h in expected
        ]
        assert np.allclose([h.score for h in got], [h.score for h in expected], atol=1e-5), query


def test_switching_the_index_kind_rewrites_it_without_embedding(tmp_path: Path) -> None:
    encoder, entries, out = FakeEncoder(), load_glossary(MINI), tmp_path / "index"
    first = build_index(entries, out, encoder.name, lambda: encoder)
    assert first.vector_index.kind == "flat"
    calls = len(encoder.calls)
    switched = build_index(entries, out, encoder.name, lambda: encoder, vector_index="hnsw")
    assert (switched.up_to_date, switched.embedded, switched.reused) == (False, 0, first.vectors)
    assert len(encoder.calls) == calls and isinstance(read_index(out).vectors, faiss.IndexHNSWFlat)
    again = build_index(entries, out, encoder.name, lambda: encoder, vector_index="hnsw")
    assert again.up_to_date and again.vector_index.kind == "hnsw"


def test_an_index_from_before_the_vector_index_field_still_loads(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    out = build_index(load_glossary(MINI), tmp_path / "index", encoder.name, lambda: encoder).path
    manifest_file = out.resolve() / MANIFEST
    manifest = json.loads(manifest_file.read_text("utf-8"))
    del manifest["vector_index"]
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    index = read_index(out)
    assert index.manifest.vector_index.kind == "flat" and isinstance(index.vectors, faiss.IndexFlatIP)
    assert Searcher(index, encoder).search("dropout", k=1)[0].id == "dropout"
