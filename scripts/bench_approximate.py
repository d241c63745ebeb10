#!/usr/bin/env python
"""How much an approximate (HNSW) index loses, measured with real questions.

For an index whose manifest says `hnsw`:

1. recall@10 of the vector index against exact search, for real query embeddings (the
   evaluation questions, and the reverse-dictionary queries when `--rd-data` names
   prepare.py's folder): the share of the exact 10 nearest rows (ties counted) that the HNSW
   search returns at the index's efSearch, and the same with the 256 rows the searcher asks for;
2. the answers: the searcher's top 10 (candidates only, the default on such an index) against
   the same searcher scoring every entry exactly, per question: overlap@10 and same first hit.

    .venv/bin/python scripts/bench_approximate.py --index BIG [--rd-data DIR] [--answers 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import faiss
import numpy as np

from indexer.paths import BUNDLED_QUERIES
from indexer.vector_index import stored_vectors
from search_api.searcher import Searcher

TIE = 1e-5


def questions(rd_data: Path | None, limit: int) -> dict[str, list[str]]:
    sets = {"eval questions": [json.loads(line)["query"] for line in BUNDLED_QUERIES.open() if line.strip()][:limit]}
    if rd_data is not None:
        for name in ("desc", "seen", "unseen"):
            file = rd_data / f"queries_{name}.jsonl"
            sets[f"reverse dictionary {name}"] = [json.loads(line)["query"][:500] for line in file.open()][:limit]
    return sets


def recall(index: faiss.Index, vectors: np.ndarray, queries: np.ndarray, fetch: int) -> float:
    exact, _ = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    found, _ = index.search(queries, fetch)
    return float(np.mean(np.minimum(np.sum(found >= exact[:, 9:10] - TIE, axis=1), 10) / 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--rd-data", type=Path, help="prepare.py's folder (queries_desc/seen/unseen.jsonl)")
    parser.add_argument("--limit", type=int, default=500, help="questions per set")
    parser.add_argument("--answers", type=int, default=100, help="questions per set whose answers are compared")
    args = parser.parse_args()
    searcher = Searcher.load(args.index)
    info = searcher.index.manifest.vector_index
    print(f"{len(searcher.entries):,} entries, {len(searcher.index.rows):,} vectors; manifest: {info}")
    if info.kind != "hnsw":
        raise SystemExit("this index is exact (flat): nothing approximate to measure")
    vectors = stored_vectors(searcher.index.vectors)
    faiss.omp_set_num_threads(2)  # the exact search of the yardstick; the HNSW search is per query anyway
    for name, texts in questions(args.rd_data, args.limit).items():
        embedded = np.asarray(searcher.embed(texts)[0], dtype=np.float32)
        at_ef = recall(searcher.index.vectors, vectors, embedded, 10)
        at_fetch = recall(searcher.index.vectors, vectors, embedded, searcher.dense_candidates)
        overlaps, firsts = [], []
        for text, vector in zip(texts[: args.answers], embedded, strict=False):
            searcher.rank_all = False
            approximate = [hit.id for hit in searcher.rank(text, vector, 10, searcher.weights)[0]]
            searcher.rank_all = True
            exact = [hit.id for hit in searcher.rank(text, vector, 10, searcher.weights)[0]]
            if exact:
                overlaps.append(len(set(approximate) & set(exact)) / len(exact))
                firsts.append(float(approximate[:1] == exact[:1]))
        searcher.rank_all = False
        overlap, first = statistics.mean(overlaps), statistics.mean(firsts)
        print(
            f"{name} ({len(texts)}): vector recall@10 {at_ef:.4f} (top 10 at efSearch {info.ef_search}), "
            f"{at_fetch:.4f} (among the {searcher.dense_candidates} rows fetched); "
            f"answers ({len(overlaps)} with hits): overlap@10 with exact ranking {overlap:.4f}, "
            f"same first hit {first:.4f}"
        )


if __name__ == "__main__":
    main()
