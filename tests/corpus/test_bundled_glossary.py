"""The bundled glossary keeps its promises: every required term, every field, sound links."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from indexer.paths import BUNDLED_CORPUS, BUNDLED_QUERIES
from indexer.schema import Entry
from indexer.validation import load_glossary

REQUIRED_TERMS = Path(__file__).resolve().parents[3] / "shared" / "required_terms.txt"


@pytest.fixture(scope="module")
def glossary() -> list[Entry]:
    # complete=True: every field filled, lengths within bounds, 1-3 misconceptions, 3-6 related
    # ids that resolve, no duplicate id, no alias claimed twice.
    return load_glossary(BUNDLED_CORPUS, complete=True)


def required_terms() -> list[str]:
    lines = REQUIRED_TERMS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_required_term_is_a_term_or_alias(glossary: list[Entry]) -> None:
    names = {name.casefold() for entry in glossary for name in entry.names()}
    missing = [term for term in required_terms() if term.casefold() not in names]
    assert len(required_terms()) == 311
    assert missing == []


def test_size_and_categories(glossary: list[Entry]) -> None:
    assert len(glossary) >= 350
    categories = Counter(entry.category for entry in glossary)
    assert len(categories) == 14 and min(categories.values()) >= 10


def test_words_with_two_meanings_have_two_entries(glossary: list[Entry]) -> None:
    terms = {entry.term for entry in glossary}
    assert {"bias (math)", "bias (ethics)", "agent (reinforcement learning)", "AI agent"} <= terms
    claimed = {alias.casefold() for entry in glossary for alias in entry.aliases}
    assert "bias" not in claimed and "agent" not in claimed


def test_no_two_entries_share_a_definition_or_analogy(glossary: list[Entry]) -> None:
    for field in ("definition", "plain_english", "analogy", "example"):
        texts = Counter(getattr(entry, field) for entry in glossary)
        assert texts.most_common(1)[0][1] == 1, field


def test_evaluation_set(glossary: list[Entry]) -> None:
    ids = {entry.id for entry in glossary}
    queries = [json.loads(line) for line in BUNDLED_QUERIES.read_text("utf-8").splitlines() if line.strip()]
    kinds = Counter(q["kind"] for q in queries)
    assert len(queries) - kinds["none"] >= 300
    assert set(kinds) == {"paraphrase", "lookup", "acronym", "typo", "none"} and kinds["none"] >= 30
    assert all(set(q) == {"query", "expected", "kind"} for q in queries)
    assert {q["expected"] for q in queries if q["kind"] != "none"} == ids  # every entry is asked for
    assert all(q["expected"] is None for q in queries if q["kind"] == "none")
    assert len({q["query"].casefold() for q in queries}) == len(queries)
