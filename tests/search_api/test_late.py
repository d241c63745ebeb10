"""Late interaction: the question's token vectors against the index's token store (real model, bundled glossary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.tokens import TOKEN_FIELDS, stores_field
from indexer.validation import load_glossary
from search_api.fusion import FEATURES, LATE_FEATURES, FusionWeights
from search_api.late import CANDIDATES
from search_api.searcher import Searcher

QUESTIONS = (
    "picking the next word by always choosing the most likely one",
    "a number that says how sure the model is, between 0 and 1",
    "when a model learns the training data too well and fails on new data",
)
LATE = [FEATURES.index(name) for name in LATE_FEATURES]


def maxsim(question: np.ndarray, row: np.ndarray) -> float:
    """ColBERT's MaxSim, written out: each question token's best cosine among the row's tokens, averaged."""
    return float(np.mean([max(float(q @ t) for t in row.astype(np.float32)) for q in question]))


def test_the_bundled_index_ranks_with_late_interaction(bundled_searcher: Searcher) -> None:
    assert bundled_searcher.late is not None
    assert bundled_searcher.described  # every bundled entry has everyday descriptions
    assert bundled_searcher.weights == FusionWeights.learned(tokens=True, described=True)
    assert all(bundled_searcher.weights.weights[name] != 0 for name in ("late", "late_definition"))


@pytest.mark.parametrize("question", QUESTIONS)
def test_late_features_are_maxsim_of_each_stored_row(bundled_searcher: Searcher, question: str) -> None:
    searcher = bundled_searcher
    assert searcher.late is not None
    vector, (tokens,) = searcher.encoder.encode_tokens([question])
    asked = searcher.late.question(tokens)
    assert 0 < len(asked) < len(tokens[1])  # its stop words ("the", "a", "by", "is") do not count
    found = searcher.signals(question, vector[0], tokens)
    late = found.features[:, LATE]
    scored = np.flatnonzero((late != late.min(axis=0)).any(axis=1))
    assert CANDIDATES - 3 <= len(scored) <= CANDIDATES  # candidates tied with the lowest are not told apart
    store = searcher.index.tokens
    assert store is not None
    rows = {(row.entry_id, row.field): number for number, row in enumerate(searcher.index.rows)}
    for position in scored[:5]:
        entry = searcher.entries[position]
        stored = {f: store.row(rows[(entry.id, f)]) for f in TOKEN_FIELDS if stores_field(entry, f)}
        assert set(stored) == {"term", "definition", "described_as"} and all(len(row) for row in stored.values())
        expected = {f: maxsim(asked, row) for f, row in stored.items()}
        best = max(expected.values())
        assert late[position, 0] == pytest.approx(best, abs=1e-4)
        assert late[position, 1] == pytest.approx(expected.get("term", best), abs=1e-4)
        assert late[position, 2] == pytest.approx(expected.get("definition", best), abs=1e-4)
        together = maxsim(asked, np.concatenate(list(stored.values())))
        assert late[position, 3] == pytest.approx(together, abs=1e-4) and together >= best - 1e-4
    # every entry outside the candidates takes the lowest candidate value, column by column
    others = np.setdiff1d(np.arange(len(searcher.entries)), scored)
    assert np.all(late[others] == late.min(axis=0))


def test_an_answer_embeds_once_and_ranks_as_the_evaluation_does(bundled_searcher: Searcher) -> None:
    """`answer` takes the vector and the token vectors from one forward pass; `rank`, given the vector only
    (as an evaluation embeds questions in batches), embeds the tokens itself: the same hits either way."""
    for question in QUESTIONS:
        answer = bundled_searcher.answer(question, k=10)
        vector = bundled_searcher.encoder.encode([question])[0]
        hits, _ = bundled_searcher.rank(question, vector, 10, bundled_searcher.weights)
        assert [h.id for h in answer.hits] == [h.id for h in hits]
        assert [h.score for h in answer.hits] == pytest.approx([h.score for h in hits], abs=1e-4)


def test_an_index_without_a_token_store_ranks_with_the_weights_learned_without_it(tmp_path: Path) -> None:
    mini = Path(__file__).parent.parent / "data" / "mini.yaml"
    encoder = FakeEncoder()
    build_index(load_glossary(mini), tmp_path / "index", encoder.name, lambda: encoder, vector_index="hnsw")
    searcher = Searcher.load(tmp_path / "index", encoder=encoder)  # type: ignore[arg-type]
    assert searcher.late is None
    assert searcher.weights == FusionWeights.learned(tokens=False, described=True)
    assert all(searcher.weights.weights.get(name, 0.0) == 0 for name in LATE_FEATURES)
    assert searcher.search("dropout")[0].id == "dropout"


def test_a_glossary_without_descriptions_ranks_with_the_weights_learned_without_them(tmp_path: Path) -> None:
    """A glossary a user brings usually has no `described_as`: it gets the weights learned on the bundled
    glossary with its descriptions left out, and its plain English in the token store in their place.
    One with descriptions in half its entries or more ranks as described."""
    mini = load_glossary(Path(__file__).parent.parent / "data" / "mini.yaml")
    encoder = FakeEncoder()
    for described, expected in ((0, False), (3, False), (4, True)):
        entries = [e if n < described else e.model_copy(update={"described_as": ()}) for n, e in enumerate(mini)]
        out = tmp_path / f"index-{described}"
        build_index(entries, out, encoder.name, lambda: encoder)
        searcher = Searcher.load(out, encoder=encoder)  # type: ignore[arg-type]
        assert searcher.late is not None and searcher.described is expected
        assert searcher.weights == FusionWeights.learned(tokens=True, described=expected)
        assert searcher.candidate_weights == FusionWeights.learned(tokens=False, described=expected)
    assert FusionWeights.learned(tokens=True, described=False) != FusionWeights.learned(tokens=True, described=True)
