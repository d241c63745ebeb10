"""Matching a query against entry names (terms and aliases): exact, contained, fuzzy, prefix.

No model call happens here, so it also serves search-as-you-type suggestions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bm25s.stopwords import STOPWORDS_EN_PLUS
from rapidfuzz import fuzz, process

from indexer.schema import Entry

# Stop words plus the words people wrap around a name in a help box ("what does X stand for").
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {
    "mean",
    "meaning",
    "means",
    "define",
    "definition",
    "explain",
    "stand",
    "stands",
    "abbreviation",
    "acronym",
    "short",
    "term",
    "called",
    "tell",
    "please",
}
FUZZY_CUTOFF = 84.0  # rapidfuzz ratio (0-100) below which two names are not a typo of each other
DID_YOU_MEAN_CUTOFF = 72.0  # looser: only offered when nothing was found
SUGGEST_FUZZY_CUTOFF = 75.0  # while typing, a near name is worth offering
MIN_FUZZY_LENGTH = 4  # shorter strings match too many names by accident
# A name inside a longer question is weak evidence (BM25 already sees those words): its
# score is this share of the query's words that the name covers.
CONTAINED_SCALE = 0.5


def normalize(text: str) -> str:
    """Case-folded words joined by single spaces, punctuation removed (`t-SNE` -> `t sne`)."""
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def content_words(text: str) -> str:
    """The normalized text without stop and question words (`what is dropout` -> `dropout`)."""
    return " ".join(w for w in normalize(text).split() if w not in _STOPWORDS)


@dataclass(frozen=True)
class Name:
    entry_id: str
    term: str
    name: str  # as written in the glossary
    key: str  # normalized
    is_alias: bool


@dataclass(frozen=True)
class NameMatch:
    """The best name match of one entry: how it matched and a score in [0, 1]."""

    entry_id: str
    name: str
    kind: Literal["exact", "contained", "fuzzy"]
    is_alias: bool
    score: float


class NameIndex:
    """Every term and alias of a glossary, ready for exact, fuzzy and prefix matching."""

    def __init__(self, entries: list[Entry]) -> None:
        self.names = [
            Name(e.id, e.term, name, normalize(name), i > 0) for e in entries for i, name in enumerate(e.names())
        ]
        self.names = [n for n in self.names if n.key]
        self._keys = [n.key for n in self.names]
        self._by_key: dict[str, list[Name]] = {}
        for n in self.names:
            self._by_key.setdefault(n.key, []).append(n)
        self._longest = max((len(n.key.split()) for n in self.names), default=1)

    def match(self, query: str) -> dict[str, NameMatch]:
        """Entry id -> best name match for a query."""
        key, content = normalize(query), content_words(query)
        best: dict[str, NameMatch] = {}
        for candidate in self._exact(key, content) + self._contained(key) + self._fuzzy(content):
            current = best.get(candidate.entry_id)
            if current is None or candidate.score > current.score:
                best[candidate.entry_id] = candidate
        return best

    def _exact(self, key: str, content: str) -> list[NameMatch]:
        found = self._by_key.get(key, []) + (self._by_key.get(content, []) if content != key else [])
        return [NameMatch(n.entry_id, n.name, "exact", n.is_alias, 1.0) for n in found]

    def _contained(self, key: str) -> list[NameMatch]:
        """Names that appear as whole words inside a longer query, scored by how much they cover."""
        words = key.split()
        matches = []
        for size in range(1, min(len(words), self._longest) + 1):
            for start in range(len(words) - size + 1):
                phrase = " ".join(words[start : start + size])
                if phrase == key or len(phrase) < 3:
                    continue
                coverage = size / len(words)
                for n in self._by_key.get(phrase, []):
                    matches.append(NameMatch(n.entry_id, n.name, "contained", n.is_alias, CONTAINED_SCALE * coverage))
        return matches

    def _fuzzy(self, content: str) -> list[NameMatch]:
        if len(content) < MIN_FUZZY_LENGTH:
            return []
        results = process.extract(content, self._keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=8)
        matches = []
        for _, score, position in results:
            n = self.names[position]
            if n.key != content:
                matches.append(NameMatch(n.entry_id, n.name, "fuzzy", n.is_alias, 0.9 * score / 100.0))
        return matches

    def closest(self, query: str, cutoff: float = DID_YOU_MEAN_CUTOFF) -> str | None:
        """The name nearest to the query's content words, if any is reasonably near."""
        content = content_words(query)
        if len(content) < MIN_FUZZY_LENGTH:
            return None
        found = process.extractOne(content, self._keys, scorer=fuzz.ratio, score_cutoff=cutoff)
        return None if found is None else self.names[found[2]].name

    def suggest(self, query: str, limit: int = 8) -> list[Name]:
        """Names for search-as-you-type: prefix matches first (shortest first), then fuzzy ones."""
        key = normalize(query)
        if not key:
            return []
        prefix = [n for n in self.names if n.key.startswith(key)]
        inner = [n for n in self.names if f" {key}" in f" {n.key}" and not n.key.startswith(key)]
        ordered = sorted(prefix, key=lambda n: (len(n.key), n.is_alias)) + sorted(inner, key=lambda n: len(n.key))
        if len(key) >= MIN_FUZZY_LENGTH:
            fuzzy = process.extract(key, self._keys, scorer=fuzz.ratio, score_cutoff=SUGGEST_FUZZY_CUTOFF, limit=limit)
            ordered += [self.names[position] for _, _, position in fuzzy]
        return _one_per_entry(ordered, limit)


def _one_per_entry(names: list[Name], limit: int) -> list[Name]:
    seen: set[str] = set()
    chosen = []
    for n in names:
        if n.entry_id not in seen:
            seen.add(n.entry_id)
            chosen.append(n)
        if len(chosen) == limit:
            break
    return chosen
