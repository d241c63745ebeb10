"""Our retrieval metrics agree with ranx, a maintained implementation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ranx import Qrels, Run
from ranx import evaluate as ranx_evaluate

from indexer.errors import CorpusError
from search_api.evaluation import DEPTH, load_queries, rank_metrics

# ranx's numba kernels warn about an integer cast inside ranx itself.
pytestmark = pytest.mark.filterwarnings("ignore:unsafe cast from uint64 to int64:Warning")

RANX_NAMES = {
    "recall@1": "recall@1",
    "recall@5": "recall@5",
    "mrr@10": "mrr@10",
    "ndcg@10": "ndcg@10",
    "ap@10": "map@10",
}


@pytest.mark.parametrize("rank", [1, 2, 3, 5, 6, 10, None])
def test_metrics_match_ranx(rank: int | None) -> None:
    ranked = [f"d{i}" for i in range(1, DEPTH + 3)]
    relevant = ranked[rank - 1] if rank else "missing"
    qrels = Qrels({"q": {relevant: 1}})
    run = Run({"q": {doc: float(100 - i) for i, doc in enumerate(ranked)}})
    ours = rank_metrics(rank)
    theirs = ranx_evaluate(qrels, run, list(RANX_NAMES.values()))
    for metric, ranx_name in RANX_NAMES.items():
        assert ours[metric] == pytest.approx(theirs[ranx_name]), metric


def test_query_file_problems_are_listed_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"query": "a", "expected": "inference", "kind": "paraphrase"}\n'
        '{"query": "b", "expected": "nope", "kind": "lookup"}\n'
        '{"query": "c", "expected": "inference", "kind": "none"}\n'
        '{"query": "d", "expected": null, "kind": "guess"}\n'
    )
    with pytest.raises(CorpusError) as caught:
        load_queries(path, {"inference"})
    message = str(caught.value)
    assert f"{path}:2: expected id 'nope' is not in the index" in message
    assert f"{path}:3: expected must be null exactly when kind is 'none'" in message
    assert f"{path}:4:" in message and f"{path}:1:" not in message
