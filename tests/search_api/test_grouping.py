"""Several senses of one word stay separate entries; `group=term` folds them into one hit per term."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from indexer.build import build_index
from indexer.encoder import DEFAULT_MODEL, SentenceTransformerEncoder
from indexer.validation import load_glossary
from search_api.app import create_app
from search_api.cli import app as cli
from search_api.searcher import Searcher
from search_api.settings import Settings

SENSES = Path(__file__).parent.parent / "data" / "senses.jsonl"


@pytest.fixture(scope="module")
def senses_index(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceTransformerEncoder) -> Path:
    out = tmp_path_factory.mktemp("senses") / "index"
    build_index(load_glossary(SENSES), out, DEFAULT_MODEL, lambda: encoder, str(SENSES))
    return out


@pytest.fixture(scope="module")
def searcher(senses_index: Path, encoder: SentenceTransformerEncoder) -> Searcher:
    return Searcher.load(senses_index, encoder=encoder)


@pytest.fixture(scope="module")
def client(searcher: Searcher) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(rate_limit="", reload_interval=0), searcher=searcher)) as test_client:
        yield test_client


def test_a_word_typed_alone_gives_one_hit_with_every_sense(searcher: Searcher) -> None:
    ungrouped = searcher.search("bank", k=10)
    assert {hit.id for hit in ungrouped if hit.term == "bank"} == {"bank-money", "bank-river", "bank-turn"}
    assert all(hit.senses == [] for hit in ungrouped)
    grouped = searcher.search("bank", k=10, group="term")
    assert [hit.term for hit in grouped].count("bank") == 1
    first = grouped[0]
    assert first.term == "bank"
    assert {first.id, *(sense.id for sense in first.senses)} == {"bank-money", "bank-river", "bank-turn"}
    assert [sense.score for sense in first.senses] == sorted((sense.score for sense in first.senses), reverse=True)
    assert all(sense.score <= first.score for sense in first.senses)


def test_the_best_sense_leads_and_k_counts_terms(searcher: Searcher) -> None:
    grouped = searcher.search("which institution lends money and keeps deposits?", k=2, group="term")
    assert len(grouped) <= 2 and grouped[0].id == "bank-money"
    # terms differing only in case are one term: "Mouse" and "mouse"
    mice = searcher.search("mouse", k=10, group="term")
    assert [hit.term.casefold() for hit in mice].count("mouse") == 1
    assert {mice[0].id, *(s.id for s in mice[0].senses)} == {"mouse-animal", "mouse-device"}


def test_search_group_term_over_http(client: TestClient) -> None:
    plain = client.get("/search", params={"q": "python"}).json()
    assert all("senses" not in hit for hit in plain["hits"])  # the ungrouped answer is unchanged
    body = client.get("/search", params={"q": "python", "group": "term"}).json()
    first = body["hits"][0]
    assert first["term"].casefold() == "python"
    assert {first["id"], *(s["id"] for s in first["senses"])} == {"python-snake", "python-language"}
    assert set(first["senses"][0]) == {
        "id",
        "term",
        "score",
        "matched_field",
        "snippet",
        "definition",
        "category",
        "signals",
    }
    lone = client.get("/search", params={"q": "keyboard", "group": "term"}).json()["hits"][0]
    assert (lone["id"], lone["senses"]) == ("keyboard", [])


def test_an_unknown_grouping_is_a_422_saying_what_is_allowed(client: TestClient) -> None:
    response = client.get("/search", params={"q": "bank", "group": "word"})
    assert response.status_code == 422
    assert "group" in response.json()["error"]["message"] and "term" in response.json()["error"]["message"]


def test_openapi_documents_the_grouping(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    parameter = next(p for p in spec["paths"]["/search"]["get"]["parameters"] if p["name"] == "group")
    assert "term" in json.dumps(parameter["schema"]) and "senses" in parameter["description"]
    assert "senses" in spec["components"]["schemas"]["HitPublic"]["properties"]


def test_cli_groups_by_term(senses_index: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "bank", "--index", str(senses_index), "--group", "term", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits[0]["term"] == "bank" and len(hits[0]["senses"]) == 2
    text = CliRunner().invoke(cli, ["search", "bank", "--index", str(senses_index), "--group", "term"])
    assert text.stdout.count("also: [bank-") == 2
    plain = CliRunner().invoke(cli, ["search", "bank", "--index", str(senses_index), "--json"])
    assert "senses" not in json.loads(plain.stdout)["hits"][0]
