"""Schemathesis fuzzes the running API from its own /openapi.json, with every check, at a fixed seed.

A few hundred cases keep CI short; scripts/bench_service.py runs the same with over 5,000.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LiveServer, serve_in_thread

from search_api.searcher import Searcher
from search_api.settings import Settings


@pytest.fixture(scope="module")
def fuzzed_server(mini_searcher: Searcher) -> Iterator[LiveServer]:
    # Limits stay on (in-flight cap, head size, deadlines); only the per-client rate is lifted,
    # because every case comes from the same address.
    yield from serve_in_thread(mini_searcher, Settings(rate_limit="", reload_interval=0))


def test_schemathesis_finds_no_failure(fuzzed_server: LiveServer) -> None:
    st = Path(sys.executable).parent / "st"
    command = [str(st), "run", f"{fuzzed_server.url}/openapi.json", "--checks", "all", "-n", "40", "--seed", "10"]
    command += ["--generation-database", "none"]  # nothing written into the checkout
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
    generated = int(result.stdout.split(" generated, ")[0].rsplit(maxsplit=1)[-1])
    assert generated >= 200, result.stdout[-2000:]
