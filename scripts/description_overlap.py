#!/usr/bin/env python
"""Do the everyday descriptions help only the questions that echo their words? A check on the gain.

The entries' `described_as` lines and the evaluation questions were written separately (neither
writer saw the other's text), but two writers describing the same concept in plain words may still
land on the same phrase. This script measures, for each answerable question of a split, the
longest run of words it shares with any description of its expected entry, groups the questions by
it (0-3 words, 4-5, 6 or more), and gives Recall@1 and MRR@10 per group for each index named:
say, the bundled index and the same glossary indexed without its descriptions (the `.plain` index
that scripts/tune_fusion.py builds). If the descriptions only paid where they echo a question, the
gain would sit in the last group.

    .venv/bin/python scripts/description_overlap.py --index .index --index .index.plain [--split test]
"""

from __future__ import annotations

import argparse
import re
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from indexer.paths import BUNDLED_QUERIES, default_index_dir
from search_api.evaluation import DEPTH, EvalQuery, QueryResult, load_queries
from search_api.fusion_learning import Embedded, embed, summary
from search_api.searcher import Searcher
from search_api.settings import Settings

GROUPS = ((0, 3), (4, 5), (6, 10_000))
WORD = re.compile(r"[a-z0-9']+")


def shared_run(question: str, descriptions: tuple[str, ...]) -> int:
    """The longest run of consecutive words the question shares with one of the descriptions."""
    asked = WORD.findall(question.casefold())
    best = 0
    for text in descriptions:
        words = WORD.findall(text.casefold())
        match = SequenceMatcher(None, asked, words, autojunk=False).find_longest_match(0, len(asked), 0, len(words))
        best = max(best, match.size)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, action="append", help="an index to score (repeatable)")
    parser.add_argument("--describing-index", type=Path, help="whose descriptions to compare (default: the first)")
    parser.add_argument("--queries", type=Path, default=BUNDLED_QUERIES)
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    args = parser.parse_args()
    indexes = args.index or [default_index_dir()]
    settings = Settings()
    first = settings.load_searcher(index=indexes[0])
    describing = (
        settings.load_searcher(encoder=first.encoder, index=args.describing_index) if args.describing_index else first
    )
    if not any(entry.described_as for entry in describing.entries):
        raise SystemExit(f"the glossary indexed at {args.describing_index or indexes[0]} has no descriptions")
    queries = [q for q in load_queries(args.queries, set(first.by_id), args.split) if q.expected is not None]
    run = {q.query: shared_run(q.query, describing.by_id[q.expected or ""].described_as) for q in queries}
    group_of = {
        q.query: next(i for i, (low, high) in enumerate(GROUPS) if low <= run[q.query] <= high) for q in queries
    }
    counts = [sum(group_of[q.query] == i for q in queries) for i in range(len(GROUPS))]
    print(f"split {args.split}: {len(queries)} answerable questions; longest run of words shared with a description")
    header = " | ".join(
        f"{low}-{high} words ({count})" if high < 10_000 else f"{low}+ words ({count})"
        for (low, high), count in zip(GROUPS, counts, strict=True)
    )
    print(f"| index | all ({len(queries)}) | {header} |")
    print("| --- |" + " --- |" * (len(GROUPS) + 1))
    embedded: Embedded = {}  # every index shares the encoder: a reading two of them share is embedded once
    groups = np.array([group_of[q.query] for q in queries])
    for path in indexes:
        searcher = first if path == indexes[0] else settings.load_searcher(encoder=first.encoder, index=path)
        embedded = embed(searcher, queries, embedded)
        ranks = full_ranks(searcher, queries, embedded)
        cells = [cell(ranks)] + [cell(ranks[groups == i]) for i in range(len(GROUPS))]
        print(f"| {path} | " + " | ".join(cells) + " |")
    print("(each cell: Recall@1 / MRR@10)")


def full_ranks(searcher: Searcher, queries: list[EvalQuery], embedded: Embedded) -> np.ndarray:
    """Each question's rank of its entry under the searcher's own weights (DEPTH + 1 when not in the first DEPTH)."""
    ranks = []
    for q in queries:
        vector, asked = embedded[searcher.names.corrected(q.query)]
        hits, _ = searcher.rank(q.query, vector, DEPTH, searcher.weights, tokens=asked)
        ranks.append(QueryResult(q, [hit.id for hit in hits]).rank or DEPTH + 1)
    return np.array(ranks)


def cell(ranks: np.ndarray) -> str:
    if not len(ranks):
        return "-"
    r1, mrr = summary(ranks)
    return f"{r1:.3f} / {mrr:.3f}"


if __name__ == "__main__":
    main()
