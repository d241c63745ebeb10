"""Name matching that does not scan every name gives the answers of scanning every name.

The oracle is the scan itself, written out here as `NameIndex` did it before it had a prefix
structure and a bigram filter: every name's key tested for the prefix, every key scored by
rapidfuzz. No model is involved.
"""

from __future__ import annotations

import json
import random
import string

import pytest
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from indexer.paths import BUNDLED_CORPUS, BUNDLED_QUERIES
from indexer.schema import Entry
from indexer.validation import load_glossary
from search_api.fuzzy_keys import FuzzyKeys
from search_api.names import (
    CONTAINED_SCALE,
    DID_YOU_MEAN_CUTOFF,
    FUZZY_CUTOFF,
    MIN_FUZZY_LENGTH,
    SUGGEST_FUZZY_CUTOFF,
    TWO_SLIPS_FROM,
    Name,
    NameIndex,
    content_words,
    english_words,
    normalize,
)


@pytest.fixture(scope="module")
def bundled_names() -> NameIndex:
    return NameIndex(load_glossary(BUNDLED_CORPUS, complete=True))


def scanned_near(index: NameIndex, key: str, cutoff: float, limit: int) -> list[tuple[Name, float]]:
    keys = [n.key for n in index.names]
    return [
        (index.names[i], score)
        for _, score, i in process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit)
    ]


def scanned_suggestions(index: NameIndex, query: str, limit: int) -> list[Name]:
    key = normalize(query)
    if not key:
        return []
    prefix = [n for n in index.names if n.key.startswith(key)]
    inner = [n for n in index.names if f" {key}" in f" {n.key}" and not n.key.startswith(key)]
    ordered = sorted(prefix, key=lambda n: (len(n.key), n.is_alias)) + sorted(inner, key=lambda n: len(n.key))
    if len(key) >= MIN_FUZZY_LENGTH:
        ordered += [n for n, _ in scanned_near(index, key, SUGGEST_FUZZY_CUTOFF, limit)]
    seen: set[str] = set()
    chosen = []
    for n in ordered:
        if n.entry_id not in seen and len(chosen) < limit:
            seen.add(n.entry_id)
            chosen.append(n)
    return chosen


def typed(names: list[str], count: int, seed: int = 3) -> list[str]:
    """Every prefix of `count` names, and two misspellings of each (a letter dropped, two swapped)."""
    rng = random.Random(seed)
    texts = []
    for name in rng.sample(names, min(count, len(names))):
        texts += [name[:end] for end in range(1, len(name) + 1)]
        if len(name) > 4:
            i = rng.randrange(1, len(name) - 2)
            texts += [name[:i] + name[i + 1 :], name[:i] + name[i + 1] + name[i] + name[i + 2 :]]
    return texts


def test_suggestions_equal_a_scan_of_every_name(bundled_names: NameIndex) -> None:
    texts = typed([n.name for n in bundled_names.names], 150)
    assert len(texts) > 1000
    for text in texts:
        for limit in (1, 8, 20):
            assert bundled_names.suggest(text, limit) == scanned_suggestions(bundled_names, text, limit), text


def test_fuzzy_matches_equal_rapidfuzz_over_every_name(bundled_names: NameIndex) -> None:
    lines = BUNDLED_QUERIES.read_text("utf-8").splitlines()
    questions = [json.loads(line)["query"] for line in lines if line.strip()]
    keys = [content_words(q) for q in questions[:400]] + [
        normalize(t) for t in typed([n.name for n in bundled_names.names], 80)
    ]
    found = 0
    for key in keys:
        for cutoff in (DID_YOU_MEAN_CUTOFF, SUGGEST_FUZZY_CUTOFF, FUZZY_CUTOFF):
            expected = scanned_near(bundled_names, key, cutoff, 8)
            assert bundled_names.near(key, cutoff, 8) == expected, (key, cutoff)
            found += len(expected)
    assert found > 500  # the comparison is about matches, not about empty lists


def test_a_misspelt_question_gets_the_same_did_you_mean(bundled_names: NameIndex) -> None:
    assert bundled_names.closest("what is backpropogation") == "backpropagation"
    assert bundled_names.closest("xqzvwk") is None


def test_the_bigram_filter_keeps_every_key_that_reaches_the_cutoff() -> None:
    """Random strings over four letters are near each other often: the filter must let each such key through."""
    rng = random.Random(11)
    keys = ["".join(rng.choices("abcd ", k=rng.randint(1, 14))).strip() or "a" for _ in range(3000)]
    index = FuzzyKeys(keys)
    dropped = 0
    for _ in range(300):
        query = "".join(rng.choices("abcd", k=rng.randint(1, 14)))
        for cutoff in (60.0, 72.0, 84.0, 95.0):
            reachable = {k for k in set(keys) if fuzz.ratio(query, k) >= cutoff}
            candidates = index.candidates(query, cutoff)
            assert reachable <= set(candidates), (query, cutoff, reachable - set(candidates))
            dropped += len(set(keys)) - len(candidates)
    assert dropped > 0  # and it does filter


def test_prefixes_with_thousands_of_names_keep_their_order() -> None:
    """Many senses of a few words: prefix ranges far longer than one sorted batch."""
    rng = random.Random(5)
    words = ["".join(rng.choices(string.ascii_lowercase[:6], k=rng.randint(2, 9))) for _ in range(600)]
    entries = [
        Entry(
            id=f"e{i}",
            term=f"{rng.choice(words)} {rng.choice(words)}" if i % 3 else rng.choice(words),
            definition="a sense",
            aliases=(rng.choice(words),) if i % 4 == 0 else (),
        )
        for i in range(6000)
    ]
    index = NameIndex(entries)
    for text in ["a", "b", "ab", "c d", "abc", "fa", "e", "ca ", "dead", "bead c"]:
        for limit in (1, 8, 20):
            assert index.suggest(text, limit) == scanned_suggestions(index, text, limit), text


def test_a_slip_inside_a_question_is_read_as_the_name_it_misspells(bundled_names: NameIndex) -> None:
    assert bundled_names.corrected("How does gradient desent work?") == "How does gradient descent work?"
    assert bundled_names.corrected("Naive bayse or modle?") == "Naive bayes or model?"  # swaps, not `base`, `mode`
    assert bundled_names.corrected("HOW DOES GRADIENT DESENT WORK") == "HOW DOES GRADIENT DESCENT WORK"
    match = bundled_names.match("how does gradient desent work")["gradient-descent"]
    spelt = CONTAINED_SCALE * 2 / 5  # a name of two words, spelt right, inside five
    assert match.kind == "contained" and 0.9 * spelt < match.score < spelt  # the slip costs a little
    assert bundled_names.corrected("zzdropoutt") == "zzdropoutt"  # three edits from `dropout`: no slip


def test_english_words_and_words_built_on_a_name_are_never_slips(bundled_names: NameIndex) -> None:
    """`legit` is one letter from `logit`, `carpet` near `cart`; `unnormalized` is built on `normalized`,
    and `int4` is a name of its own kind, not a slip for `int8`."""
    for meant in (
        "a legit email marked as spam",
        "getting red wine out of a carpet",
        "the raw unnormalized scores",
        "my cat keeps scratching the sofa",
        "what is int4 quantization",
    ):
        assert bundled_names.corrected(meant) == meant
        assert all(m.kind != "contained" or m.name.casefold() in meant for m in bundled_names.match(meant).values())


def test_a_slip_is_read_as_the_nearest_name_word_a_scan_finds(bundled_names: NameIndex) -> None:
    """The bigram filter loses no name word: a reading is at the fewest edits a scan of every name word finds,
    and a word left unread has no name word within reach (or is English, or built on a name word)."""
    words = sorted({w for n in bundled_names.names for w in n.key.split() if w.isalpha()})
    rng = random.Random(7)
    readings = 0
    for word in rng.sample([w for w in words if len(w) >= 5], 400):
        at = rng.randrange(1, len(word) - 1)
        slip = word[:at] + rng.choice(["", "q", word[at] * 2]) + word[at + 1 :]  # dropped, replaced, doubled
        reach = 1 if len(slip) < TWO_SLIPS_FROM else 2
        distance = {w: OSA.distance(slip, w) for w in words}
        nearest = min(distance.values())
        read = bundled_names._slip_of(slip)
        if read is not None:
            assert distance[read] == nearest <= reach, slip
            readings += 1
        elif slip not in english_words() and slip not in bundled_names._known_words:
            built_on = [w for w, d in distance.items() if d == nearest and w in slip and len(slip) - len(w) >= 2]
            assert nearest > reach or built_on, slip
    assert readings > 250
