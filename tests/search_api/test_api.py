"""The HTTP API with the real model over the small test glossary: status codes and shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from search_api.app import create_app
from search_api.searcher import Searcher
from search_api.settings import Settings


@pytest.fixture(scope="module")
def client(mini_searcher: Searcher) -> Iterator[TestClient]:
    settings = Settings(cors_origins=["https://help.example"], rate_limit="", reload_interval=0)
    app = create_app(settings, searcher=mini_searcher)
    with TestClient(app) as test_client:
        yield test_client


def error(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status
    return str(body["error"]["message"])


def test_search_answers_with_hits_and_inference(client: TestClient) -> None:
    response = client.get("/search", params={"q": "what happens when a model makes predictions?", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"query", "hits", "did_you_mean", "read_as", "inference"}
    assert body["query"] == "what happens when a model makes predictions?"
    assert body["hits"][0]["id"] == "inference"
    assert len(body["hits"]) <= 3
    hit = body["hits"][0]
    assert set(hit) == {"id", "term", "score", "matched_field", "snippet", "definition", "category", "signals"}
    assert hit["term"] == "Inference" and hit["snippet"] and set(hit["signals"]) == {"dense", "lexical", "name"}
    assert body["inference"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["inference"]["runtime"].startswith("torch-")  # the tests' query encoder, said as it is
    assert body["inference"]["embed_ms"] > 0 and body["inference"]["search_ms"] > 0
    assert body["read_as"] is None  # nothing misspelt


def test_search_says_how_it_read_a_misspelt_name(client: TestClient) -> None:
    body = client.get("/search", params={"q": "how does gradient desent work", "k": 3}).json()
    assert body["read_as"] == "how does gradient descent work"
    assert body["query"] == "how does gradient desent work" and body["hits"][0]["id"] == "gradient-descent"


def test_search_by_alias_reports_the_alias(client: TestClient) -> None:
    hit = client.get("/search", params={"q": "backprop"}).json()["hits"][0]
    assert (hit["id"], hit["matched_field"], hit["signals"]["name"]) == ("backpropagation", "alias", pytest.approx(1.0))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "the query is empty"),
        ({"q": "   "}, "the query is empty"),
        ({}, "the query parameter 'q' is required"),
        ({"q": "x" * 501}, "the query is 501 characters long; the maximum is 500"),
        ({"q": "x" * 5000}, "the query is 5000 characters long; the maximum is 500"),
        ({"q": "dropout", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"q": "dropout", "k": 51}, "k: Input should be less than or equal to 50"),
        ({"q": "dropout", "k": "ten"}, "k: Input should be a valid integer"),
    ],
)
def test_bad_search_input_is_a_422_with_one_error_shape(
    client: TestClient, params: dict[str, object], message: str
) -> None:
    assert message in error(client.get("/search", params=params), 422)


def test_suggest_matches_prefixes_and_typos_without_the_model(client: TestClient) -> None:
    body = client.get("/suggest", params={"q": "over"}).json()
    assert body == {
        "query": "over",
        "suggestions": [
            {
                "id": "overfitting",
                "term": "Overfitting",
                "matched": "overfit",
                "definition": "When a model fits the noise and quirks of its training data so closely that it performs "
                "worse on new data.",
            }
        ],
    }
    typo = client.get("/suggest", params={"q": "tokenizaton"}).json()["suggestions"]
    assert typo[0]["id"] == "tokenization"
    assert client.get("/suggest", params={"q": " "}).json()["suggestions"] == []
    assert "maximum is 500" in error(client.get("/suggest", params={"q": "y" * 600}), 422)


def test_terms_lists_every_entry(client: TestClient) -> None:
    terms = client.get("/terms").json()
    assert len(terms) == 8
    assert terms[0] == {
        "id": "inference",
        "term": "Inference",
        "aliases": ["model inference"],
        "category": "Foundations",
    }


def test_term_returns_the_full_entry_with_related_names(client: TestClient) -> None:
    entry = client.get("/terms/dropout").json()
    assert entry["term"] == "Dropout" and entry["misconceptions"] and entry["analogy"].startswith("Like a team")
    assert [r["id"] for r in entry["related"]] == ["overfitting", "training", "backpropagation"]
    assert entry["related"][0]["term"] == "Overfitting"
    assert entry["described_as"][0] == "randomly switching off some units while a network learns"


def test_unknown_term_and_route_are_404s(client: TestClient) -> None:
    assert "no entry with id 'nope'" in error(client.get("/terms/nope"), 404)
    error(client.get("/no-such-page"), 404)


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["entries"] == 8 and health["vectors"] == 64
    assert health["model"] == health["query_model"] == "sentence-transformers/all-MiniLM-L6-v2"  # no query adapter
    assert health["query_runtime"].startswith("torch-")
    assert health["late_interaction"] is True and health["token_vectors"] > 0  # the mini index has a token store
    assert health["fusion_weights"] == "described_tokens"  # and every entry has everyday descriptions
    spec = client.get("/openapi.json").json()
    assert {"/search", "/suggest", "/terms", "/terms/{term_id}", "/health"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_cors_allows_configured_origin_only(client: TestClient) -> None:
    allowed = client.get("/search", params={"q": "dropout"}, headers={"Origin": "https://help.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://help.example"
    other = client.get("/search", params={"q": "dropout"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_widget_and_demo_page_are_served(client: TestClient) -> None:
    assert client.get("/widget.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/").headers["content-type"].startswith("text/html")


def test_head_is_answered_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/health", "/terms/dropout", "/search?q=dropout", "/widget.js", "/"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path


def test_405_names_the_allowed_methods_in_json(client: TestClient) -> None:
    response = client.post("/search", params={"q": "dropout"})
    assert "Method Not Allowed" in error(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


def test_every_answer_says_nosniff(client: TestClient) -> None:
    for response in (client.get("/health"), client.get("/terms/nope"), client.get("/widget.js")):
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_refused_cors_preflight_is_json(client: TestClient) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    assert error(client.options("/search", headers=headers), 400) == "CORS preflight refused: Disallowed CORS origin"
    allowed = client.options("/search", headers={**headers, "Origin": "https://help.example"})
    assert allowed.status_code == 200


def test_a_huge_unknown_id_is_not_echoed_in_full(client: TestClient) -> None:
    message = error(client.get("/terms/" + "z" * 60_000), 404)
    assert message == f"no entry with id {'z' * 80!r}... (60000 chars); GET /terms lists the ids"


@pytest.mark.parametrize("q", ["\u200b\u200b\u200b", "\ufeff \u2060", "\u00a0\u3000"])
def test_a_query_of_invisible_characters_is_empty(client: TestClient, q: str) -> None:
    assert error(client.get("/search", params={"q": q}), 422) == "the query is empty; type a word or a question"
    assert client.get("/suggest", params={"q": q}).json()["suggestions"] == []


def test_the_schema_declares_the_query_bounds_and_docs_need_no_cdn(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    (q,) = [p for p in spec["paths"]["/search"]["get"]["parameters"] if p["name"] == "q"]
    assert (q["schema"]["minLength"], q["schema"]["maxLength"]) == (1, 500) and q["schema"]["pattern"].startswith("[^")
    assert {"429", "503"} <= set(spec["paths"]["/search"]["get"]["responses"])
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/docs-assets/swagger-ui-bundle.js" in docs
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


class BrokenSearcher:
    """A searcher whose every search fails unexpectedly (a bug, not a domain error)."""

    def __init__(self, searcher: Searcher) -> None:
        self._searcher = searcher

    def __getattr__(self, name: str) -> object:
        return getattr(self._searcher, name)

    def answer(self, query: str, k: int = 10, **options: object) -> object:
        if query == "warm up":
            return self._searcher.answer(query, k)
        raise RuntimeError("a bug")


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(mini_searcher: Searcher) -> None:
    app = create_app(Settings(rate_limit="", reload_interval=0), searcher=BrokenSearcher(mini_searcher))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as broken:
        response = broken.get("/search", params={"q": "dropout"})
    assert error(response, 500) == "the server could not answer this request"
    assert "Traceback" not in response.text and "a bug" not in response.text
