"""What the glossary says a real model does stays true of that model.

An example that names all-MiniLM-L6-v2 (the default model, which ships with the package) and
claims one sentence lands closer to another than a third is checked here against the model
itself, and the sentences must still appear in the entry, so neither side can drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from transformers import AutoTokenizer

from indexer.encoder import DEFAULT_MODEL, SentenceTransformerEncoder, resolve_model_path
from indexer.paths import BUNDLED_CORPUS
from indexer.schema import Entry
from indexer.validation import load_glossary

# The smallest gap, in cosine similarity, that counts as "clearly closer".
MARGIN = 0.1


@dataclass(frozen=True)
class CloserClaim:
    """In entry `entry_id`, `anchor` is closer to `closer` than to `farther`.

    `closer_range` and `farther_range` bound the cosines, matching the rounded figures the
    entry states ("about 0.7", "close to zero").
    """

    entry_id: str
    anchor: str
    closer: str
    farther: str
    closer_range: tuple[float, float]
    farther_range: tuple[float, float]


CLAIMS = [
    CloserClaim(
        "sentence-embedding",
        "The doctor prescribed antibiotics",
        "The physician gave me medicine for the infection",
        "The doctor's car is parked outside",
        closer_range=(0.65, 0.75),
        farther_range=(0.25, 0.35),
    ),
    CloserClaim(
        "embedding",
        "How do I reset my password?",
        "I forgot my login details",
        "Best pizza in Naples",
        closer_range=(0.55, 0.65),
        farther_range=(-0.1, 0.1),
    ),
    CloserClaim(
        "embedding",
        "I forgot my login details",
        "How do I reset my password?",
        "Best pizza in Naples",
        closer_range=(0.55, 0.65),
        farther_range=(-0.1, 0.1),
    ),
]

# (entry id, word, the exact pieces the default model's WordPiece tokenizer produces or None
# when the entry only claims "a few known fragments", never the unknown-word symbol)
TOKENIZATIONS = [
    ("subword-tokenization", "tokenization", ["token", "##ization"]),
    ("subword-tokenization", "glorptastic", None),
]


@pytest.fixture(scope="module")
def entries() -> dict[str, Entry]:
    return {entry.id: entry for entry in load_glossary(BUNDLED_CORPUS, complete=True)}


def entry_text(entry: Entry) -> str:
    prose = [entry.definition, entry.plain_english, entry.analogy, entry.example, entry.usage]
    return " ".join([*(part or "" for part in prose), *entry.misconceptions])


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda claim: f"{claim.entry_id}:{claim.anchor[:20]}")
def test_closer_claim_holds(claim: CloserClaim, entries: dict[str, Entry], encoder: SentenceTransformerEncoder) -> None:
    text = entry_text(entries[claim.entry_id])
    for sentence in (claim.anchor, claim.closer, claim.farther):
        assert sentence in text, f"{claim.entry_id} no longer quotes {sentence!r}"
    vectors = np.asarray(encoder.encode([claim.anchor, claim.closer, claim.farther]), dtype=np.float64)
    closer, farther = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert closer - farther >= MARGIN, (closer, farther)
    assert claim.closer_range[0] <= closer <= claim.closer_range[1], closer
    assert claim.farther_range[0] <= farther <= claim.farther_range[1], farther


@pytest.mark.parametrize(("entry_id", "word", "pieces"), TOKENIZATIONS, ids=[row[1] for row in TOKENIZATIONS])
def test_tokenization_claim_holds(
    entry_id: str, word: str, pieces: list[str] | None, entries: dict[str, Entry]
) -> None:
    text = entry_text(entries[entry_id])
    assert word in text
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(DEFAULT_MODEL))
    produced = tokenizer.tokenize(word)
    if pieces is None:
        assert 1 < len(produced) <= 5 and tokenizer.unk_token not in produced, produced
    else:
        assert produced == pieces
        assert all(f'"{piece}"' in text for piece in pieces)


# Entries that state the default model's vector size ("384 numbers", "384-dimensional").
DIMENSION_CLAIMS = [
    ("sentence-embedding", "384 numbers"),
    ("embedding", "384-number vectors"),
    ("sentence-transformer", "384-dimensional vectors"),
]


@pytest.mark.parametrize(("entry_id", "phrase"), DIMENSION_CLAIMS, ids=[row[0] for row in DIMENSION_CLAIMS])
def test_dimension_claim_holds(
    entry_id: str, phrase: str, entries: dict[str, Entry], encoder: SentenceTransformerEncoder
) -> None:
    text = entry_text(entries[entry_id])
    assert "all-MiniLM-L6-v2" in text and phrase in text
    assert encoder.dimension == 384
    assert np.asarray(encoder.encode(["a sentence"])).shape == (1, 384)
