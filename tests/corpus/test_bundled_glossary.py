"""The bundled glossary keeps its promises: every required term, every field, sound links."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from indexer.paths import BUNDLED_CORPUS, BUNDLED_QUERIES
from indexer.schema import Entry
from indexer.validation import load_glossary
from search_api.evaluation import split_of

REQUIRED_TERMS = Path(__file__).resolve().parents[3] / "shared" / "required_terms.txt"
# Tier 1 and 2 of shared/glossary/candidate_terms.tsv: the words users expect, "tier<TAB>term ; alias ; ..."
CANDIDATES = Path(__file__).resolve().parents[1] / "data" / "candidate_terms_tier12.tsv"
CATEGORIES = {
    "Foundations",
    "AI history and applications",
    "Data",
    "Classic models",
    "Neural networks",
    "Transformers and language models",
    "Prompting and agents",
    "Embeddings and retrieval",
    "Optimisation and training",
    "Model efficiency",
    "Evaluation",
    "Probability and statistics",
    "Reinforcement learning",
    "NLP and vision tasks",
    "Production and MLOps",
    "Responsible AI",
}


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


def test_every_tier_1_and_2_candidate_is_a_term_or_alias(glossary: list[Entry]) -> None:
    """A candidate line is covered when one of its names is a term or alias (a term may carry a qualifier)."""
    names = {name.casefold() for entry in glossary for name in entry.names()}
    names |= {re.sub(r"\s*\([^)]*\)$", "", entry.term).casefold() for entry in glossary}
    lines = [line.split("\t")[1] for line in CANDIDATES.read_text("utf-8").splitlines()]
    missing = [line for line in lines if not any(n.strip().casefold() in names for n in line.split(" ; "))]
    assert len(lines) == 266
    assert missing == []


def test_size_and_categories(glossary: list[Entry]) -> None:
    assert len(glossary) >= 750
    categories = Counter(entry.category for entry in glossary)
    assert set(categories) == CATEGORIES and min(categories.values()) >= 10


def test_one_file_per_category() -> None:
    for path in sorted(BUNDLED_CORPUS.glob("*.yaml")):
        assert len({item["category"] for item in yaml.safe_load(path.read_text("utf-8"))}) == 1, path.name


def test_words_with_two_meanings_have_two_entries(glossary: list[Entry]) -> None:
    terms = {entry.term for entry in glossary}
    assert {"bias (math)", "bias (ethics)", "agent (reinforcement learning)", "AI agent"} <= terms
    claimed = {alias.casefold() for entry in glossary for alias in entry.aliases}
    assert "bias" not in claimed and "agent" not in claimed


def test_no_two_entries_share_a_definition_or_analogy(glossary: list[Entry]) -> None:
    for field in ("definition", "plain_english", "analogy", "example"):
        texts = Counter(getattr(entry, field) for entry in glossary)
        assert texts.most_common(1)[0][1] == 1, field


def test_descriptions_never_name_their_entry_and_are_not_shared(glossary: list[Entry]) -> None:
    """`described_as` is for people who do not know the name: a description that says it is wasted."""
    named = []
    for entry in glossary:
        names = [re.sub(r"\s*\([^)]*\)$", "", name).strip() for name in entry.names()]
        for text in entry.described_as:
            for name in names:
                if len(name) >= 3 and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE):
                    named.append((entry.id, name, text))
    assert named == []
    counts = Counter(text.casefold() for entry in glossary for text in entry.described_as)
    assert counts.most_common(1)[0][1] == 1
    assert Counter(len(entry.described_as) for entry in glossary) == {6: len(glossary)}


def test_no_description_is_an_evaluation_question(glossary: list[Entry]) -> None:
    """Descriptions and questions were written apart; a question copied into an entry would grade itself."""
    questions = {
        json.loads(line)["query"].casefold() for line in BUNDLED_QUERIES.read_text("utf-8").splitlines() if line
    }
    assert [
        t for e in glossary for t in e.described_as if t.casefold().rstrip("?") in {q.rstrip("?") for q in questions}
    ] == []


def test_evaluation_set(glossary: list[Entry]) -> None:
    ids = {entry.id for entry in glossary}
    queries = [json.loads(line) for line in BUNDLED_QUERIES.read_text("utf-8").splitlines() if line.strip()]
    kinds = Counter(q["kind"] for q in queries)
    assert len(queries) - kinds["none"] >= 300
    assert set(kinds) == {"paraphrase", "lookup", "acronym", "typo", "none"} and kinds["none"] >= 30
    assert all(set(q) == {"query", "expected", "kind", "split", "origin"} for q in queries)
    assert {q["expected"] for q in queries if q["kind"] != "none"} == ids  # every entry is asked for
    assert all(q["expected"] is None for q in queries if q["kind"] == "none")
    assert len({q["query"].casefold() for q in queries}) == len(queries)


def test_evaluation_splits_follow_the_rule() -> None:
    """Dev and test are fixed by the entry asked for, so no entry's questions straddle the split."""
    queries = [json.loads(line) for line in BUNDLED_QUERIES.read_text("utf-8").splitlines() if line.strip()]
    assert all(q["split"] == split_of(q["expected"], q["query"]) for q in queries)
    sides = defaultdict(set)
    for q in queries:
        sides[q["expected"]].add(q["split"])
    assert all(len(s) == 1 for entry, s in sides.items() if entry is not None)
    blind = Counter((q["split"], q["kind"]) for q in queries if q["origin"] == "blind")
    assert blind[("test", "paraphrase")] >= 300 and blind[("dev", "paraphrase")] >= 300
    assert blind[("test", "none")] >= 20
