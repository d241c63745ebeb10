#!/usr/bin/env python
"""Misspelled names, alone and inside a question: R@1 and MRR@10 on seeded synthetic typos.

The bundled evaluation set has about 90 typo questions, too few to tell two ways of matching
names apart. This makes more, from the glossary itself: for each entry of one split (the same
split by entry as `glossary eval`), one of its names gets one seeded keyboard slip (a letter
dropped, doubled, swapped with its neighbour or replaced) in one of its words of five letters or
more, and is asked either bare ("gradient desent") or inside a short question ("how does
gradient desent work"). Entries whose names are all shorter are skipped. The frames are
generic, so the figures measure name matching, not the glossary's wording.

These are synthetic questions for comparing rankers, not a substitute for written ones; choose
on `--split dev` (the default) and report `--split test`.

    .venv/bin/python scripts/bench_typos.py [--index .index] [--split dev] [--seed 5]
"""

from __future__ import annotations

import argparse
import random
import re
import string
from collections import defaultdict
from pathlib import Path

import numpy as np

from indexer.paths import default_index_dir
from indexer.schema import Entry
from search_api.evaluation import DEPTH, split_of
from search_api.fusion_learning import summary
from search_api.settings import Settings

# Frames a reader might put around a name; "{}" alone is a bare lookup.
FRAMES = (
    "{}",
    "what is {}",
    "{} meaning",
    "how does {} work",
    "explain {} simply",
    "{} example",
    "why use {}",
    "difference made by {}",
)


def slip(word: str, rng: random.Random) -> str:
    """One keyboard slip in `word`: a letter dropped, doubled, swapped with its neighbour, or replaced."""
    at = rng.randrange(1, len(word) - 1)  # the first and last letters are usually typed right
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        return word[:at] + word[at + 1 :]
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    if kind == "swap" and word[at] != word[at + 1]:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    other = rng.choice([c for c in string.ascii_lowercase if c != word[at].lower()])
    return word[:at] + other + word[at + 1 :]


def misspell(name: str, rng: random.Random) -> str | None:
    """`name` with one slip in one of its words of five letters or more; None if it has none."""
    words = list(re.finditer(r"[A-Za-z]{5,}", name))
    if not words:
        return None
    chosen = rng.choice(words)
    return name[: chosen.start()] + slip(chosen.group(), rng) + name[chosen.end() :]


def questions(entries: list[Entry], split: str, seed: int) -> list[tuple[str, str, str]]:
    """(question, expected entry id, frame) for the entries of `split`, seeded."""
    rng = random.Random(seed)
    out = []
    for entry in entries:
        if split_of(entry.id, "") != split:
            continue
        names = [n for n in entry.names() if re.search(r"[A-Za-z]{5,}", n)]
        if not names:
            continue
        typed = misspell(rng.choice(names), rng)
        assert typed is not None
        frame = rng.choice(FRAMES)
        out.append((frame.format(typed), entry.id, "bare" if frame == "{}" else "in a question"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=default_index_dir())
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--show", type=int, default=0, help="print this many misses")
    args = parser.parse_args()
    searcher = Settings().load_searcher(index=args.index)
    asked = questions(searcher.entries, args.split, args.seed)
    vectors, tokens = searcher.embed([q for q, _, _ in asked], with_tokens=True)
    groups: dict[str, list[int]] = defaultdict(list)  # ranks of the expected entry, DEPTH + 1 when missing
    misses = []
    for (question, expected, group), vector, token in zip(asked, vectors, tokens, strict=True):
        hits, _ = searcher.rank(question, vector, DEPTH, searcher.weights, tokens=token)
        ranked = [h.id for h in hits]
        rank = ranked.index(expected) + 1 if expected in ranked else DEPTH + 1
        for name in (group, "all"):
            groups[name].append(rank)
        if rank != 1:
            misses.append((question, expected, ranked[:3]))
    print(f"synthetic typos, {args.split} split, seed {args.seed}, index {args.index}")
    print("| questions | n | R@1 | MRR@10 |\n| --- | --- | --- | --- |")
    for name in ("all", "bare", "in a question"):
        r1, mrr = summary(np.array(groups[name]))
        print(f"| {name} | {len(groups[name])} | {r1:.3f} | {mrr:.3f} |")
    for question, expected, top in misses[: args.show]:
        print(f"  {question!r}: expected {expected}, got {top}")


if __name__ == "__main__":
    main()
