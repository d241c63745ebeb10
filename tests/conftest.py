"""Shared fixtures: the real model loads once per test run, indexes are built once per session."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from indexer.build import build_index
from indexer.encoder import DEFAULT_MODEL, SentenceTransformerEncoder, load_encoder
from indexer.model_spec import DEFAULT_QUERY_MODEL
from indexer.paths import BUNDLED_CORPUS
from indexer.validation import load_glossary
from search_api.app import create_app
from search_api.searcher import Searcher
from search_api.server import uvicorn_config
from search_api.settings import Settings

DATA = Path(__file__).parent / "data"
MINI = DATA / "mini.yaml"


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh cache directory for the ONNX export: the run exports once and leaves $HOME alone."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("cache")
        patch.setenv("GLOSSARY_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    """The real default model, loaded once for the whole run."""
    return load_encoder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def query_encoder() -> SentenceTransformerEncoder:
    """The default query model, loaded once (the default model itself while no query adapter ships)."""
    return load_encoder(DEFAULT_QUERY_MODEL)


def _build(
    source: Path, out: Path, encoder: SentenceTransformerEncoder, complete: bool, query_model: str | None = None
) -> Path:
    entries = load_glossary(source, complete=complete)
    build_index(entries, out, DEFAULT_MODEL, lambda: encoder, str(source), query_model=query_model)
    return out


@pytest.fixture(scope="session")
def mini_index(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceTransformerEncoder) -> Path:
    """An index of tests/data/mini.yaml (8 entries). Treat as read-only; copy it to change it."""
    return _build(MINI, tmp_path_factory.mktemp("mini") / "index", encoder, complete=True)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceTransformerEncoder) -> Path:
    """An index of the bundled glossary, as `glossary index` builds it (queried with the default query model)."""
    out = tmp_path_factory.mktemp("bundled") / "index"
    return _build(BUNDLED_CORPUS, out, encoder, complete=True, query_model=DEFAULT_QUERY_MODEL)


@pytest.fixture(scope="session")
def bundled_searcher(bundled_index: Path, query_encoder: SentenceTransformerEncoder) -> Searcher:
    return Searcher.load(bundled_index, encoder=query_encoder)


@pytest.fixture(scope="session")
def mini_searcher(mini_index: Path, encoder: SentenceTransformerEncoder) -> Searcher:
    return Searcher.load(mini_index, encoder=encoder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    searcher: Searcher


def serve_in_thread(searcher: Searcher, settings: Settings | None = None) -> Iterator[LiveServer]:
    """Run the real app on uvicorn in a background thread until the generator is closed."""
    port = free_port()
    # No rate limit and no index watching unless a test asks: many tests share one client address.
    settings = settings or Settings(port=port, rate_limit="", reload_interval=0)
    server = uvicorn.Server(uvicorn_config(create_app(settings, searcher), "127.0.0.1", port, settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", searcher)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(bundled_searcher: Searcher) -> Iterator[LiveServer]:
    """The real API over the bundled glossary, on a free port of 127.0.0.1."""
    yield from serve_in_thread(bundled_searcher)


def publish_build(out: Path, number: int, encoder: SentenceTransformerEncoder, mark: bool = True) -> str:
    """Build the test glossary with every category set to `build <number>` (unless not `mark`) and publish it
    at `out`; the published build's name."""
    source = out.parent / f"build-{number}.yaml"
    text = MINI.read_text()
    source.write_text(re.sub(r"category: .*", f"category: build {number}", text) if mark else text)
    build_index(load_glossary(source), out, DEFAULT_MODEL, lambda: encoder, str(source))
    return Path(os.readlink(out)).name


def keep_searching(url: str, stop: threading.Event, answers: list[tuple[int, str, set[str]]]) -> None:
    """Search until `stop`, recording each answer's status, the build that answered and its hits' categories."""
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            response = client.get("/search", params={"q": "how does a model learn from data", "k": 8})
            body = response.json()
            build = body.get("inference", {}).get("build", "")
            answers.append((response.status_code, build, {hit["category"] for hit in body.get("hits", [])}))
