"""The typed results of a search."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """One ranked entry and why it was ranked there.

    `signals` holds each signal's own score for this entry (dense: cosine similarity of
    the best field; lexical: BM25; name: term match in [0, 1]); `score` is their fusion.
    `senses` is filled only when results are grouped by term (`group="term"`).
    """

    id: str
    term: str
    score: float
    matched_field: str
    snippet: str
    definition: str
    category: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    senses: list[Hit] = field(default_factory=list)  # grouped by term: the other senses that matched, best first


@dataclass(frozen=True)
class Answer:
    """Hits for a query, plus what a help box needs around them."""

    query: str
    hits: list[Hit]
    did_you_mean: str | None
    embed_ms: float
    search_ms: float
    read_as: str | None = None  # the query as ranked, when a slip in it was read as a name's word
