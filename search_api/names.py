"""Matching a query against entry names (terms and aliases): exact, contained, fuzzy, prefix.

Also how a query is read: a word that is a slip for a word of a name (`desent` for `descent`) is
read as that word (`NameIndex.corrected`), by BM25, by the encoder and by `contained` matching.
No model call happens here, so it also serves search-as-you-type suggestions.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
import wordfreq
from bm25s.stopwords import STOPWORDS_EN_PLUS
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Levenshtein

from indexer.schema import Entry
from indexer.texts import embedding_texts
from search_api.fuzzy_keys import FuzzyKeys

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
# Inside a longer question a misspelt name must be longer still: short runs of words near a
# name are too often something else.
MIN_FUZZY_INSIDE_LENGTH = 5
# A slip is one keyboard edit (a letter dropped, added, replaced, or two swapped) in a word, two
# in a word of this many letters or more.
TWO_SLIPS_FROM = 8
# An English word used at least once in ten million words (Zipf frequency 2 in wordfreq's large
# list) is taken as meant, never as a slip (`legit` is not `logit`, `carpet` not `cart`).
ENGLISH_ZIPF = 2.0
SLIPS_REMEMBERED = 50_000  # words whose reading is remembered (then forgotten all at once)
# A name inside a longer question is weak evidence (BM25 already sees those words): its
# score is this share of the query's words that the name covers.
CONTAINED_SCALE = 0.5


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The words English uses at least ENGLISH_ZIPF often (about 96,000), once per process.

    Only the set is kept: wordfreq's own tables (about 40 MB) are let go once it is built.
    """
    frequency = 10.0 ** (ENGLISH_ZIPF - 9.0)  # Zipf frequency z is 10**z uses per billion words
    table = wordfreq.get_frequency_dict("en", wordlist="large")
    words = frozenset(word for word, share in table.items() if share >= frequency)
    for cached in (wordfreq.get_frequency_dict, wordfreq.get_frequency_list):
        cached.cache_clear()
    return words


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
    """Every term and alias of a glossary, ready for exact, fuzzy and prefix matching.

    Nothing here scans every name: exact and contained names are dictionary look-ups, prefixes are
    ranges of the sorted keys (found by bisection), and fuzzy matches are scored by rapidfuzz
    among the few keys a bigram filter lets through (`search_api.fuzzy_keys`), which never drops a
    key that could reach the cutoff. The answers are those of scanning every name.
    """

    def __init__(self, entries: list[Entry]) -> None:
        self.names = [
            Name(e.id, e.term, name, normalize(name), i > 0) for e in entries for i, name in enumerate(e.names())
        ]
        self.names = [n for n in self.names if n.key]
        self._by_key: dict[str, list[Name]] = {}
        self._numbers_of_key: dict[str, list[int]] = {}
        for number, n in enumerate(self.names):
            self._by_key.setdefault(n.key, []).append(n)
            self._numbers_of_key.setdefault(n.key, []).append(number)
        self._longest = max((len(n.key.split()) for n in self.names), default=1)
        self._fuzzy_keys = FuzzyKeys(self._by_key)
        # A question's word that the glossary never uses but that is near a word of a name may be a
        # slip of the keyboard; `_slip_of` reads it as that word.
        self._name_words = frozenset(word for key in self._by_key for word in key.split())
        self._fuzzy_words = FuzzyKeys(word for word in self._name_words if word.isalpha())
        english_words()  # loaded now rather than on the first question
        self._slips: dict[str, str | None] = {}  # word -> what `_slip_of` read it as, for repeated words
        self._known_words = self._name_words | {
            word for entry in entries for _, text in embedding_texts(entry) for word in normalize(text).split()
        }
        # Prefixes: the names sorted by key; each with its place in the order suggestions take
        # (shortest key first, a term before an alias, then glossary order).
        by_key = sorted(range(len(self.names)), key=lambda i: self.names[i].key)
        shown = sorted(range(len(self.names)), key=lambda i: (len(self.names[i].key), self.names[i].is_alias))
        self._prefix = _Ranges([self.names[i].key for i in by_key], by_key, _places(shown, by_key))
        # Words inside names: every key's tail from its second word on (`gradient descent` -> `descent`).
        tails = sorted(
            (n.key[start:], number)
            for number, n in enumerate(self.names)
            for start in (m.start() + 1 for m in re.finditer(" ", n.key))
        )
        inner_order = sorted(range(len(self.names)), key=lambda i: len(self.names[i].key))
        tail_numbers = [number for _, number in tails]
        self._inner = _Ranges([tail for tail, _ in tails], tail_numbers, _places(inner_order, tail_numbers))

    def match(self, query: str) -> dict[str, NameMatch]:
        """Entry id -> best name match for a query."""
        key, content = normalize(query), content_words(query)
        best: dict[str, NameMatch] = {}
        found = self._exact(key, content) + self._contained(key) + self._fuzzy(content)
        for candidate in found + self._contained_slips(key):
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
        return [
            NameMatch(n.entry_id, n.name, "fuzzy", n.is_alias, 0.9 * score / 100.0)
            for n, score in self.near(content, FUZZY_CUTOFF, 8)
            if n.key != content
        ]

    def corrected(self, query: str) -> str:
        """The query with each slip replaced by the word of a name it is near (see `_slip_of`).

        `What does gradient desent do` -> `What does gradient descent do` (a capital kept); a
        query without a slip comes back as it is. BM25 and the encoder read this, so that a
        misspelt name counts as the name there, as `_contained_slips` counts it among the names.
        """

        def read(match: re.Match[str]) -> str:
            typed = match.group()
            fix = self._slip_of(typed.casefold())
            if fix is None:
                return typed
            if typed.isupper() and len(typed) > 1:
                return fix.upper()
            return fix[0].upper() + fix[1:] if typed[0].isupper() else fix

        return re.sub(r"[^\W_]+", read, query)

    def _contained_slips(self, key: str) -> list[NameMatch]:
        """Names inside a longer question that a slip misspelt (`how does gradient desent work`).

        A run of words holding a slip that spells a name once its slips are read as `corrected`
        reads them matches as `_contained` would match the name, if the run as typed is within
        typo distance of the name (the cutoff `_fuzzy` uses); the score is also scaled by that
        distance. A run that is the whole question is left to `_fuzzy`.
        """
        words = key.split()
        read = [self._slip_of(word) for word in words]
        if len(words) < 2 or not any(read):
            return []
        fixed = [fix or word for fix, word in zip(read, words, strict=True)]
        matches = []
        for start in range(len(words)):
            for size in range(1, min(len(words) - start, self._longest) + 1):
                if size == len(words) or not any(read[start : start + size]):
                    continue
                typed = " ".join(words[start : start + size])
                names = self._by_key.get(" ".join(fixed[start : start + size]), [])
                score = fuzz.ratio(typed, names[0].key) if names else 0.0
                if score >= FUZZY_CUTOFF and len(typed) >= MIN_FUZZY_INSIDE_LENGTH:
                    coverage = size / len(words)
                    matches += [
                        NameMatch(n.entry_id, n.name, "contained", n.is_alias, CONTAINED_SCALE * coverage * score / 100)
                        for n in names
                    ]
        return matches

    def _slip_of(self, word: str) -> str | None:
        """The word of a name that `word` (normalized) is a slip for, if any (remembered per word).

        A slip is a word of letters that neither the glossary nor everyday English uses (`desent`)
        and that is one keyboard edit from a word of some name (two from TWO_SLIPS_FROM letters on):
        a letter dropped, added or replaced, or two neighbours swapped (`descent`).
        """
        if (
            len(word) < MIN_FUZZY_LENGTH
            or not word.isalpha()  # `int4` is not a slip for `int8`
            or word in self._known_words
            or word in _STOPWORDS
            or word in english_words()
        ):
            return None
        slips = self._slips  # one dict: a reload or another thread may replace it meanwhile
        if word in slips:
            return slips[word]
        found = self._nearest_name_word(word)
        if len(slips) >= SLIPS_REMEMBERED:
            self._slips = slips = {}
        slips[word] = found
        return found

    def _nearest_name_word(self, word: str) -> str | None:
        edits = 1 if len(word) < TWO_SLIPS_FROM else 2
        # every word within `edits` of this one has at least this rapidfuzz ratio with it
        candidates = self._fuzzy_words.candidates(word, 100.0 * (1 - edits / len(word)))
        near = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=edits, limit=None)
        if not near:
            return None
        # the fewest edits; among those a swap of two letters (`modle`: `model`, not `mode`), then
        # the most letters in common (`forst`: `forest`, not `first`)
        best = str(min(near, key=lambda f: (f[1], f[1] - Levenshtein.distance(word, f[0]), -fuzz.ratio(word, f[0])))[0])
        if best in word and len(word) - len(best) >= 2:
            return None  # a word built on the name's (`unnormalized`, `upweighting`): meant
        return best

    def near(self, key: str, cutoff: float, limit: int) -> list[tuple[Name, float]]:
        """The `limit` names nearest to a normalized key with a rapidfuzz ratio of at least `cutoff`.

        Best first, ties in glossary order: what `process.extract` over every name's key gives.
        """
        candidates = self._fuzzy_keys.candidates(key, cutoff)
        scored = process.extract(key, candidates, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
        found = sorted(
            ((-score, number) for found_key, score, _ in scored for number in self._numbers_of_key[found_key])
        )
        return [(self.names[number], -negated) for negated, number in found[:limit]]

    def closest(self, query: str, cutoff: float = DID_YOU_MEAN_CUTOFF) -> str | None:
        """The name nearest to the query's content words, if any is reasonably near."""
        content = content_words(query)
        if len(content) < MIN_FUZZY_LENGTH:
            return None
        found = self.near(content, cutoff, 1)
        return found[0][0].name if found else None

    def suggest(self, query: str, limit: int = 8) -> list[Name]:
        """Names for search-as-you-type: prefix matches first (shortest first), then inner words, then fuzzy ones."""
        key = normalize(query)
        if not key:
            return []
        return _one_per_entry(self._suggestions(key, limit), limit)

    def _suggestions(self, key: str, limit: int) -> Iterator[Name]:
        """Names in the order suggestions take them, produced only as far as they are read."""
        for number in self._prefix.starting_with(key):
            yield self.names[number]
        for number in self._inner.starting_with(key):
            if not self.names[number].key.startswith(key):
                yield self.names[number]
        if len(key) >= MIN_FUZZY_LENGTH:
            yield from (n for n, _ in self.near(key, SUGGEST_FUZZY_CUTOFF, limit))


def _places(order: list[int], numbers: list[int]) -> npt.NDArray[np.int64]:
    """For each of `numbers` (name numbers), its place in `order` (a permutation of the names)."""
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    return place[np.asarray(numbers, dtype=np.int64)] if numbers else np.empty(0, dtype=np.int64)


class _Ranges:
    """Sorted strings, each with a name number and a place; yields the names whose string starts with a prefix."""

    FIRST_BATCH = 32

    def __init__(self, strings: list[str], numbers: list[int], places: npt.NDArray[np.int64]) -> None:
        self.strings = strings
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self.places = places

    def starting_with(self, prefix: str) -> Iterator[int]:
        """Name numbers whose string starts with `prefix`, by place; sorted lazily, a growing batch at a time."""
        start = bisect.bisect_left(self.strings, prefix)
        stop = bisect.bisect_left(self.strings, prefix + "\U0010ffff", lo=start)
        places = self.places[start:stop]
        done, batch = 0, self.FIRST_BATCH
        while done < len(places):
            if batch >= len(places):
                chosen = np.argsort(places, kind="stable")
            else:
                chosen = np.argpartition(places, batch - 1)[:batch]
                chosen = chosen[np.argsort(places[chosen], kind="stable")]
            for i in chosen[done:]:
                yield int(self.numbers[start + i])
            done, batch = len(chosen), batch * 4


def _one_per_entry(names: Iterable[Name], limit: int) -> list[Name]:
    seen: set[str] = set()
    chosen = []
    for n in names:
        if n.entry_id not in seen:
            seen.add(n.entry_id)
            chosen.append(n)
        if len(chosen) == limit:
            break
    return chosen
