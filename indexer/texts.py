"""The texts derived from an entry: one per embedded field, and one lexical document."""

from __future__ import annotations

from indexer.schema import Entry

# Fields embedded as separate vectors, in row order. "term" is the entry's names.
EMBEDDED_FIELDS: tuple[str, ...] = (
    "term",
    "definition",
    "plain_english",
    "analogy",
    "example",
    "usage",
    "misconceptions",
    "described_as",
)


def field_text(entry: Entry, field: str) -> str | None:
    """The readable text of one field (what a snippet is cut from), or None when empty."""
    if field == "term":
        return entry.term
    if field == "aliases":
        return ", ".join(entry.aliases) or None
    if field == "misconceptions":
        return " ".join(entry.misconceptions) or None
    if field == "described_as":
        return "; ".join(entry.described_as) or None
    value = getattr(entry, field)
    return value if isinstance(value, str) else None


def embedding_texts(entry: Entry) -> list[tuple[str, str]]:
    """(field, text to embed) for every embedded field the entry fills.

    The names vector holds the term and its aliases; the definition vector is prefixed
    with the term, so that a question naming the concept lands on it.
    """
    texts: list[tuple[str, str]] = []
    for field in EMBEDDED_FIELDS:
        if field == "term":
            aliases = f" ({', '.join(entry.aliases)})" if entry.aliases else ""
            texts.append((field, entry.term + aliases))
            continue
        text = field_text(entry, field)
        if text:
            texts.append((field, f"{entry.term}: {text}" if field == "definition" else text))
    return texts


def lexical_document(entry: Entry) -> str:
    """The text BM25 indexes for an entry: names twice (they matter most), then the prose."""
    names = " ".join(entry.names())
    prose = [field_text(entry, f) for f in ("definition", "plain_english", "usage")]
    return " ".join([names, names, *(p for p in prose if p)])
