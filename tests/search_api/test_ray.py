"""The app on Ray Serve: two replicas on a local Ray answer exactly what one process answers.

One local Ray instance serves the test glossary for the whole module (Ray takes seconds to
start), deployed from deploy/ray-serve.yaml with `serve run CONFIG --non-blocking`; the
reference is the same index served by the plain app in this process. The last test rolls a
new build out to the replicas by changing the config's user_config while clients search.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
import yaml
from click.testing import CliRunner
from conftest import MINI, LiveServer, free_port, keep_searching, publish_build, serve_in_thread
from ray import serve
from ray.serve.scripts import cli as serve_cli

from indexer.encoder import SentenceTransformerEncoder
from indexer.validation import load_glossary
from search_api.ray_deployment import APP_NAME, DEPLOYMENT_NAME
from search_api.settings import Settings

SERVE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ray-serve.yaml"
REQUESTS = [
    ("/search", {"q": "dropout"}),
    ("/search", {"q": "how does a model learn from data", "k": "3"}),
    ("/search", {"q": "a network that forgets parts of itself while training", "k": "8"}),
    ("/search", {"q": "dropuot"}),  # a typo: did_you_mean
    ("/search", {"q": "zzzz qqqq"}),  # no hits
    ("/search", {"q": "naïve régularisation über"}),
    ("/search", {"q": ""}),  # 422
    ("/search", {"q": "model", "k": "99"}),  # 422
    ("/suggest", {"q": "dr"}),
    ("/terms", {}),
    ("/terms/dropout", {}),
    ("/terms/no-such-entry", {}),  # 404
    ("/health", {}),
]


@dataclass(frozen=True)
class RayServe:
    url: str
    config: dict[str, Any]
    first_build: str

    def stats(self) -> list[dict[str, Any]]:
        handle = serve.get_deployment_handle(DEPLOYMENT_NAME, APP_NAME)
        return list(handle.broadcast("stats").results(timeout_s=60))

    def deploy(self, config: dict[str, Any], tmp: Path) -> None:
        """`serve run CONFIG --non-blocking`, as an operator would, and wait until the application runs."""
        path = tmp / "ray-serve.yaml"
        path.write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(serve_cli, ["run", str(path), "--non-blocking"])
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 240  # a busy machine: replicas load the model and the index
        while (status := serve.status().applications.get(APP_NAME)) is None or status.status != "RUNNING":
            assert time.monotonic() < deadline and (status is None or status.status != "DEPLOY_FAILED"), status
            time.sleep(0.2)


def start_local_ray(tries: int = 3) -> None:
    """A new local Ray. Its raylet has 30 s to register, which a saturated machine can miss: try again,
    after removing what the failed start left."""
    for attempt in range(tries):
        started = set(children_of(os.getpid()))
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == tries - 1:
                raise
            ray.shutdown()
            for pid in set(children_of(os.getpid())) - started:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        with contextlib.suppress(OSError):
            children = [int(c) for c in Path(f"/proc/{queue[0]}/task/{queue[0]}/children").read_text().split()]
            found += children
            queue += children
        queue.pop(0)
    return found


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceTransformerEncoder) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("ray") / "index"
    return out, publish_build(out, 0, encoder, mark=False)


def serve_config(index: Path, port: int) -> dict[str, Any]:
    """deploy/ray-serve.yaml for this machine: two replicas, a free port, the test index."""
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    config["http_options"].update(host="127.0.0.1", port=port)
    app = config["applications"][0]
    # Every test client comes from 127.0.0.1: no rate limit, no per-client cap; no watching the index path.
    app["args"].update(index=str(index), rate_limit="", max_in_flight_per_client=64, reload_interval=0)
    app["args"]["access_log"] = False
    deployment = app["deployments"][0]
    del deployment["autoscaling_config"]
    deployment.update(num_replicas=2, ray_actor_options={"num_cpus": 1})
    return config


@pytest.fixture(scope="module")
def one_process(index: tuple[Path, str]) -> Iterator[LiveServer]:
    """The same index served by the plain app in this process, loaded as `glossary serve` loads it."""
    settings = Settings(index=index[0], rate_limit="", reload_interval=0, access_log=False)
    yield from serve_in_thread(settings.load_searcher(), settings)


@pytest.fixture(scope="module")
def ray_serve(
    index: tuple[Path, str], one_process: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayServe]:
    path, build = index
    # The replicas inherit this process's environment, GLOSSARY_CACHE among it: they find the ONNX
    # export that `one_process` made there, instead of each exporting the model again.
    start_local_ray()
    try:
        port = free_port()
        served = RayServe(f"http://127.0.0.1:{port}", serve_config(path, port), build)
        served.deploy(served.config, tmp_path_factory.mktemp("config"))
        yield served
    finally:
        serve.shutdown()
        ray.shutdown()


def without_timings(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("inference"), dict):
        body["inference"] = {k: v for k, v in body["inference"].items() if k not in ("embed_ms", "search_ms")}
    return body


def test_two_replicas_each_load_the_index_once(ray_serve: RayServe) -> None:
    stats = ray_serve.stats()
    assert len({s["pid"] for s in stats}) == 2 and all(s["pid"] != os.getpid() for s in stats)
    assert [(s["loads"], s["build"]) for s in stats] == [(1, ray_serve.first_build)] * 2


def test_the_replicas_answer_exactly_what_one_process_answers(ray_serve: RayServe, one_process: LiveServer) -> None:
    before = {s["pid"]: sum(s["batches"].values()) for s in ray_serve.stats()}
    with httpx.Client(base_url=ray_serve.url, timeout=60) as on_ray, httpx.Client(base_url=one_process.url) as alone:
        for _ in range(3):  # spread over both replicas
            for path, params in REQUESTS:
                got, expected = on_ray.get(path, params=params), alone.get(path, params=params)
                assert (got.status_code, path) == (expected.status_code, path)
                assert got.headers["content-type"] == expected.headers["content-type"]
                assert without_timings(got.json()) == without_timings(expected.json()), (path, params)
    searched = {s["pid"]: sum(s["batches"].values()) - before[s["pid"]] for s in ray_serve.stats()}
    assert sum(searched.values()) == 3 * 6 and min(searched.values()) > 0, searched  # both replicas answered
    # both as served by default: the int8 copy of the model (the bodies compared above name it)
    assert httpx.get(f"{ray_serve.url}/health", timeout=60).json()["query_runtime"].endswith("-int8")


def test_concurrent_searches_share_model_calls_and_give_the_same_hits(
    ray_serve: RayServe, one_process: LiveServer
) -> None:
    queries = [f"{word} in a neural network" for word in ("dropout", "loss", "training", "layers", "data", "noise")]
    expected = {q: httpx.get(f"{one_process.url}/search", params={"q": q}).json()["hits"] for q in queries}
    before = [s["batches"] for s in ray_serve.stats()]
    answers: list[tuple[str, int, list[dict[str, Any]]]] = []

    def client(offset: int) -> None:
        with httpx.Client(base_url=ray_serve.url, timeout=60) as http:
            for i in range(6):
                q = queries[(offset + i) % len(queries)]
                response = http.get("/search", params={"q": q})
                answers.append((q, response.status_code, response.json().get("hits", [])))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 96 and {status for _, status, _ in answers} == {200}
    for q, _, hits in answers:
        # A batch is one padded model call: the same hits in the same order, scores equal within rounding.
        assert [(h["id"], h["matched_field"], h["snippet"]) for h in hits] == [
            (h["id"], h["matched_field"], h["snippet"]) for h in expected[q]
        ]
        assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in expected[q]], abs=1e-5)
    after = [s["batches"] for s in ray_serve.stats()]
    grew = {int(size) for old, new in zip(before, after, strict=True) for size in new if new[size] > old.get(size, 0)}
    assert max(grew) > 1, grew  # some queries were embedded together


def test_a_new_build_rolls_out_to_every_replica_without_a_failed_request(
    ray_serve: RayServe, index: tuple[Path, str], encoder: SentenceTransformerEncoder, tmp_path: Path
) -> None:
    path, first = index
    second = publish_build(path, 1, encoder)  # replicas do not watch the path here (reload_interval=0)
    pids = sorted(s["pid"] for s in ray_serve.stats())
    categories = {first: {entry.category for entry in load_glossary(MINI)}, second: {"build 1"}}
    answers: list[tuple[int, str, set[str]]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=keep_searching, args=(ray_serve.url, stop, answers)) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        config = copy.deepcopy(ray_serve.config)
        config["applications"][0]["deployments"][0]["user_config"] = {"index_version": second}
        ray_serve.deploy(config, tmp_path)  # a lightweight update: each replica's reconfigure loads the build
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    stats = sorted(ray_serve.stats(), key=lambda s: s["pid"])
    assert [s["pid"] for s in stats] == pids  # the same replicas: reconfigured, not restarted
    assert [s["build"] for s in stats] == [second, second] and [s["loads"] for s in stats] == [2, 2]
    assert answers and {status for status, _, _ in answers} == {200}
    assert all(build in categories and found <= categories[build] for _, build, found in answers)
    body = httpx.get(f"{ray_serve.url}/search", params={"q": "dropout"}).json()
    assert body["inference"]["build"] == second and {h["category"] for h in body["hits"]} == {"build 1"}
