"""Typo-tolerant lookup among many names without scoring every one: a bigram filter that never drops a match.

`fuzz.ratio(a, b)` (rapidfuzz) is `100 * (1 - d / (|a| + |b|))`, `d` the indel distance (insertions
and deletions turning `a` into `b`). A score of at least `c` therefore bounds both the length of
`b` and how many character bigrams `a` and `b` must share:

- `d <= (1 - c/100) * (|a| + |b|)`, and `d >= ||a| - |b||`, so `|b|` lies in a window around `|a|`;
- pad both strings with a start and an end mark, so that a string of length `n` has `n + 1`
  bigrams. Deleting a character destroys at most two bigrams and inserting one destroys at most
  one, so going from `a` to `b` through their longest common subsequence (length
  `l = (|a| + |b| - d) / 2`) keeps at least `l + 1 - d` bigram occurrences of `a` in place: the
  two strings share at least that many bigrams, counted with multiplicity.

The keys are numbered by length, and each bigram occurrence ("ab" the first time, "ab" the second
time, ...) has a sorted posting list of the keys that hold it. A query gathers its own bigrams'
postings inside the length window, counts them per key, and keeps the keys that reach the
bound: a superset of the keys that can reach the cutoff, usually a few hundred out of a hundred
thousand. rapidfuzz then scores only those.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import numpy.typing as npt

_START, _END = "\x02", "\x03"
_SLACK = 1e-6  # float rounding never tightens a bound
SCORE_ALL_UP_TO = 512  # a length window with this many keys or fewer is handed to rapidfuzz whole
_REPEATS = 63  # a bigram's 64th repeat within one string counts as its 63rd (a looser filter, never a lost key)


def _token_code(first: int, second: int, repeat: int) -> int:
    return (first << 27) | (second << 6) | min(repeat, _REPEATS)


@lru_cache(maxsize=4096)
def bigram_tokens(text: str) -> tuple[int, ...]:
    """The padded bigrams of `text` as codes, the k-th repeat of a bigram marked with k.

    Cached: a query's content words are matched, then looked up again for a did-you-mean.
    """
    points = [ord(c) for c in f"{_START}{text}{_END}"]
    seen: dict[tuple[int, int], int] = {}
    tokens = []
    for pair in itertools.pairwise(points):
        repeat = seen.get(pair, 0)
        seen[pair] = repeat + 1
        tokens.append(_token_code(pair[0], pair[1], repeat))
    return tuple(tokens)


def _all_bigram_tokens(keys: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(token code, key number) of every padded bigram of every key, as `bigram_tokens` numbers them."""
    lengths = np.array([len(key) for key in keys], dtype=np.int64)
    joined = "".join(f"{_START}{key}{_END}" for key in keys)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    ends = np.cumsum(lengths + 2)  # one past each padded key
    inside = np.ones(len(points) - 1, dtype=bool)
    inside[ends[:-1] - 1] = False  # a key's end mark and the next key's start mark are no bigram
    position = np.flatnonzero(inside)
    bigram = (points[position] << 21) | points[position + 1]
    owner = np.repeat(np.arange(len(keys), dtype=np.int64), lengths + 1)
    # the repeat number of each bigram within its key, in reading order
    order = np.lexsort((position, bigram, owner))
    bigram, owner = bigram[order], owner[order]
    starts = np.ones(len(bigram), dtype=bool)
    starts[1:] = (bigram[1:] != bigram[:-1]) | (owner[1:] != owner[:-1])
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(bigram)), 0))
    repeat = np.minimum(np.arange(len(bigram)) - group_start, _REPEATS)
    return (bigram << 6) | repeat, owner


class FuzzyKeys:
    """Distinct strings, indexed by length and by their bigrams."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys: list[str] = sorted(set(keys), key=lambda key: (len(key), key))
        self._key_array = np.array(self.keys, dtype=object)
        self.lengths = np.array([len(key) for key in self.keys], dtype=np.int64)
        longest = int(self.lengths[-1]) if len(self.keys) else 0
        # first_of_length[n]: the number of the first key of length >= n
        self._first_of_length = np.searchsorted(self.lengths, np.arange(longest + 2), side="left")
        # Every (bigram occurrence, key) pair as one sorted code, token * keys + key: a token's
        # postings inside a length window are one contiguous slice, found by one searchsorted.
        if self.keys:
            tokens, owners = _all_bigram_tokens(self.keys)
            self._tokens, numbers = np.unique(tokens, return_inverse=True)
            self._codes = np.sort(numbers.reshape(-1) * len(self.keys) + owners)
        else:
            self._tokens = self._codes = np.empty(0, dtype=np.int64)

    def _first(self, length: int) -> int:
        return int(self._first_of_length[min(max(length, 0), len(self._first_of_length) - 1)])

    def candidates(self, query: str, cutoff: float) -> list[str]:
        """Every key whose `fuzz.ratio` with `query` can reach `cutoff` (and a few that cannot)."""
        size, share = len(query), cutoff / 100.0
        if size == 0 or not 0.0 < share <= 1.0 or not self.keys:
            return list(self.keys) if share <= 0.0 else []
        low = math.ceil(size * share / (2.0 - share) - _SLACK)
        high = math.floor(size * (2.0 - share) / share + _SLACK)
        first, last = self._first(low), self._first(high + 1)
        if last - first <= SCORE_ALL_UP_TO:  # few keys of a length that could match: scoring them is cheaper
            return self.keys[first:last]
        wanted = np.array(bigram_tokens(query), dtype=np.int64)
        found = np.minimum(np.searchsorted(self._tokens, wanted), len(self._tokens) - 1)
        tokens = found[self._tokens[found] == wanted]  # the query's bigrams that some key has
        if len(tokens) == 0:
            return []
        base = tokens * len(self.keys)
        starts = np.searchsorted(self._codes, base + first)
        sizes = np.searchsorted(self._codes, base + last) - starts
        total = int(sizes.sum())
        if total == 0:
            return []
        # the slices concatenated without a Python loop: slice i holds starts[i] .. starts[i] + sizes[i] - 1
        offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(total)
        shared = np.bincount(self._codes[offsets] % len(self.keys) - first, minlength=last - first)
        length_sum = size + self.lengths[first:last]
        distance = np.floor((1.0 - share) * length_sum + _SLACK)  # the largest indel distance the cutoff allows
        needed = length_sum / 2.0 + 1.0 - 1.5 * distance  # l + 1 - d at that distance
        chosen = np.flatnonzero(shared >= needed - _SLACK) + first
        return list(self._key_array[chosen])
