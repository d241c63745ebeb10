"""Live index swaps: a running server answers from a new build without a restart or a failed request.

Each build here marks every entry's category with its number (category is not embedded, so a
rebuild embeds nothing), which lets an answer show which build it came from, and that it came
from one build only.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, keep_searching, publish_build, serve_in_thread

from indexer.encoder import SentenceTransformerEncoder
from indexer.publish import versions_dir
from indexer.storage import VECTORS
from search_api.holder import SearcherHolder, build_name
from search_api.searcher import Searcher
from search_api.settings import Settings


@pytest.fixture
def index(tmp_path: Path, encoder: SentenceTransformerEncoder) -> Path:
    out = tmp_path / "index"
    publish_build(out, 0, encoder)
    return out


@pytest.fixture
def server(index: Path, encoder: SentenceTransformerEncoder) -> Iterator[LiveServer]:
    settings = Settings(index=index, rate_limit="", reload_interval=0.1)
    yield from serve_in_thread(Searcher.load(index, encoder=encoder), settings)


def build_served(server: LiveServer) -> str:
    return str(httpx.get(f"{server.url}/health").json()["build"])


def wait_for_build(server: LiveServer, build: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while build_served(server) != build:
        assert time.monotonic() < deadline, f"still serving {build_served(server)}, not {build}"
        time.sleep(0.05)


def current_version(index: Path) -> str:
    return Path(os.readlink(index)).name


def test_a_new_build_is_served_without_a_restart(server: LiveServer, index: Path, encoder: object) -> None:
    assert build_served(server) == current_version(index)
    publish_build(index, 1, encoder)  # type: ignore[arg-type]
    wait_for_build(server, current_version(index))
    body = httpx.get(f"{server.url}/search", params={"q": "dropout"}).json()
    assert body["inference"]["build"] == current_version(index)
    assert {hit["category"] for hit in body["hits"]} == {"build 1"}


def test_a_damaged_build_is_refused_and_the_old_one_keeps_serving(
    server: LiveServer, index: Path, encoder: object, caplog: pytest.LogCaptureFixture
) -> None:
    good = current_version(index)
    damaged = versions_dir(index) / "damaged"
    shutil.copytree(versions_dir(index) / good, damaged)
    (damaged / VECTORS).write_bytes((damaged / VECTORS).read_bytes()[:100])
    link = index.parent / "link"
    os.symlink(os.path.relpath(damaged, index.parent), link)
    with caplog.at_level(logging.ERROR, logger="glossary.reload"):
        os.replace(link, index)
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "refused the new index build" in caplog.text and "does not match its checksum" in caplog.text
    assert build_served(server) == good
    assert httpx.get(f"{server.url}/search", params={"q": "dropout"}).status_code == 200
    publish_build(index, 2, encoder)  # type: ignore[arg-type]
    wait_for_build(server, current_version(index))


def test_searches_during_rebuilds_never_fail_and_never_mix_builds(
    server: LiveServer, index: Path, encoder: object
) -> None:
    answers: list[tuple[int, str, set[str]]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=keep_searching, args=(server.url, stop, answers)) for _ in range(4)]
    for thread in threads:
        thread.start()
    builds = {current_version(index): "build 0"}
    try:
        for number in (1, 2, 3):
            publish_build(index, number, encoder)  # type: ignore[arg-type]
            builds[current_version(index)] = f"build {number}"
            wait_for_build(server, current_version(index))
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert answers and all(status == 200 for status, _, _ in answers)
    assert all(categories == {builds[build]} for _, build, categories in answers)
    assert {build for _, build, _ in answers} == set(builds)  # every build answered some of them


def test_serve_from_pins_a_build_and_refuses_one_that_is_not_there(
    index: Path, encoder: SentenceTransformerEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    """What a Ray Serve replica's reconfigure does with user_config {index_version: BUILD or null}."""
    settings = Settings(index=index)
    holder = SearcherHolder(Searcher.load(index, encoder=encoder), index, settings.load_build)
    first = current_version(index)
    assert not holder.serve_from(versions_dir(index) / first)  # the build it serves: nothing to load
    publish_build(index, 1, encoder)
    second = current_version(index)
    assert holder.serve_from(versions_dir(index) / first) is False and build_name(holder.current) == first
    assert holder.serve_from(index) and build_name(holder.current) == second  # following the index path
    assert holder.serve_from(versions_dir(index) / first) and build_name(holder.current) == first  # pinned
    assert {hit.category for hit in holder.current.search("dropout")} != {"build 1"}
    publish_build(index, 2, encoder)
    assert not holder.reload_if_changed() and build_name(holder.current) == first  # a pinned build stays
    with caplog.at_level(logging.ERROR, logger="glossary.reload"):
        assert not holder.serve_from(versions_dir(index) / "no-such-build")
    assert "no index build at" in caplog.text and build_name(holder.current) == first
    assert holder.serve_from(index) and build_name(holder.current) == current_version(index)
