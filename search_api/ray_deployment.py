"""The API on Ray Serve: N replicas of the same FastAPI app, on one machine or a Ray cluster.

Each replica is a Ray actor that builds the app with `create_app` (the routes, middleware and
limits of `glossary serve`, not a copy), and loads the index once from the index path, which
every node must see (a shared volume). Ray's HTTP proxy spreads requests over the replicas.

- **Batching.** A replica's searches embed their queries through a `BatchingEncoder`
  (search_api/batching.py): the queries of concurrent searches go to the model together,
  with `@serve.batch` (at most GLOSSARY_RAY_BATCH_SIZE, waiting GLOSSARY_RAY_BATCH_WAIT_MS).
- **New builds.** Each replica follows the index path like a `glossary serve` worker (a new
  build published there is loaded beside the current one and swapped in, requests in flight
  finish on the old one). To roll out a build on command instead, pin it in the deployment's
  `user_config`, `{"index_version": "<build>"}` (a directory in the index's versions folder):
  `serve deploy` with a changed user_config is a lightweight update, and Ray calls each
  replica's `reconfigure`, which loads that build beside the current one and swaps it in;
  `{"index_version": null}` follows the index path again.

Run it with `glossary serve --ray --replicas N`, or with Ray's own CLI from a config file
(`serve run deploy/ray-serve.yaml`), whose application is `search_api.ray_deployment:app_builder`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve import Application, Deployment

from indexer.encoder import Encoder, available_cores
from indexer.onnx_encoder import load_runtime_encoder
from indexer.publish import versions_dir
from indexer.storage import read_manifest
from search_api.app import create_app
from search_api.batching import BatchingEncoder
from search_api.holder import SearcherHolder, build_name
from search_api.searcher import Searcher
from search_api.settings import Settings

logger = logging.getLogger("glossary.ray")

APP_NAME = "glossary"
DEPLOYMENT_NAME = "glossary"


class ReplicaConfig(BaseModel):
    """The deployment's `user_config`: changed by `serve deploy` without restarting a replica."""

    model_config = ConfigDict(extra="forbid")

    # A build in the index's versions folder (a name, not a path); None: follow the index path.
    index_version: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@serve.deployment(
    name=DEPLOYMENT_NAME,
    # Ray sends a replica at most max_ongoing_requests at once (glossary_app sets it to the app's own cap,
    # GLOSSARY_MAX_IN_FLIGHT); up to max_queued_requests more wait in each proxy, and Ray answers 503 beyond.
    max_ongoing_requests=32,
    max_queued_requests=64,
    ray_actor_options={"num_cpus": 1},
    user_config={"index_version": None},
    graceful_shutdown_timeout_s=30,
)
@serve.ingress()
class GlossaryReplica:
    """One replica: the app of `glossary serve`, its query embeddings batched, its build set by reconfigure."""

    def __init__(self, settings: dict[str, Any]) -> None:
        _log_to_stderr()
        given = Settings(**settings)
        # A search waits for its batch in its slot, so a batch can fill only with as many slots.
        self._settings = given.model_copy(update={"search_slots": max(given.search_slots, given.ray_batch_size)})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._glossary_app: FastAPI | None = None
        self._batches: Counter[int] = Counter()
        self._loads = 0

    async def __serve_build_asgi_app__(self) -> FastAPI:
        """Called by Ray on the replica's event loop, after __init__; the app loads the index in its lifespan."""
        self._loop = asyncio.get_running_loop()
        self._glossary_app = create_app(self._settings, load=self._load)
        return self._glossary_app

    def _load(self, index: Path, encoder: Encoder | None) -> Searcher:
        """The holder's loader: the build at `index`, its queries embedded in batches."""
        directory = Path(os.path.realpath(index))
        if encoder is None:
            assert self._loop is not None
            model = read_manifest(directory).query_model_name
            inner = load_runtime_encoder(model, self._settings.threads, self._settings.query_encoder)
            wait = self._settings.ray_batch_wait_ms / 1000
            encoder = BatchingEncoder(inner, self._loop, self._settings.ray_batch_size, wait, self._count_batch)
        searcher = self._settings.load_searcher(encoder, directory)
        self._loads += 1
        return searcher

    def _count_batch(self, size: int) -> None:
        self._batches[size] += 1

    def _holder(self) -> SearcherHolder:
        assert self._glossary_app is not None
        holder: SearcherHolder = self._glossary_app.state.holder
        return holder

    async def reconfigure(self, user_config: dict[str, Any] | None) -> None:
        """Serve the build the user_config names (loaded beside the current one), or follow the index path.

        A missing or damaged build, or a malformed user_config, is refused and logged, and the current
        build keeps serving (raising would make Ray replace the replica, and the new one would fail too);
        /health names the build each replica serves.
        """
        holder = self._holder()
        try:
            wanted = ReplicaConfig.model_validate(user_config or {})
        except ValidationError:
            logger.error(
                "refused the user_config %r: expected {index_version: BUILD or null}; still serving %s",
                user_config,
                build_name(holder.current),
            )
            return
        index = self._settings.index
        path = index if wanted.index_version is None else versions_dir(index) / wanted.index_version
        await anyio.to_thread.run_sync(holder.serve_from, path)
        logger.warning("index_version %s: serving %s", wanted.index_version, build_name(holder.current))

    def stats(self) -> dict[str, Any]:
        """What this replica did, for tests and benchmarks (DeploymentHandle.broadcast("stats"))."""
        return {
            "pid": os.getpid(),
            "build": build_name(self._holder().current),
            "loads": self._loads,
            "batches": dict(self._batches),
        }


DEPLOYMENT = cast(Deployment, GlossaryReplica)  # what the decorators made of the class


def _log_to_stderr() -> None:
    """The access log and reload messages on the replica's stderr, which Ray keeps in its log files and shows
    the driver (Ray configures its own loggers only, and Python's fallback would drop INFO)."""
    glossary = logging.getLogger("glossary")
    if not glossary.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        glossary.addHandler(handler)
        glossary.setLevel(logging.INFO)
        glossary.propagate = False


def replica_settings(settings: Settings) -> dict[str, Any]:
    """The settings a replica is built with, passed explicitly: a replica on another node has its own environment."""
    return settings.model_dump(mode="json", exclude={"host", "port", "workers"})


def glossary_app(
    settings: Settings, replicas: int | None = None, num_cpus: float | None = None, index_version: str | None = None
) -> Application:
    """The application: GlossaryReplica with these settings (replicas and CPUs as the deployment says otherwise)."""
    options: dict[str, Any] = {
        "max_ongoing_requests": settings.max_in_flight,
        "user_config": {"index_version": index_version},
    }
    if replicas is not None:
        options["num_replicas"] = replicas
    if num_cpus is not None:
        options["ray_actor_options"] = {"num_cpus": num_cpus}
    return DEPLOYMENT.options(**options).bind(replica_settings(settings))


def app_builder(args: dict[str, Any]) -> Application:
    """For Ray's CLI and config files: `args` are settings by name (index, threads, ...), GLOSSARY_* the rest.

    Replicas, autoscaling, CPUs and user_config come from the config file's `deployments` section.
    """
    unknown = sorted(set(args) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"unknown args {', '.join(unknown)}; use settings names: {', '.join(Settings.model_fields)}")
    settings = Settings(**args)
    return DEPLOYMENT.bind(replica_settings(settings))


def run(settings: Settings, replicas: int) -> None:
    """`glossary serve --ray`: deploy on the Ray cluster at RAY_ADDRESS, or on a local one started here; serve
    until SIGINT or SIGTERM."""
    import ray

    address = os.environ.get("RAY_ADDRESS")
    if not address:  # a local Ray: the replicas share this machine's cores
        cores = available_cores()
        ray.init(address="local", num_cpus=cores, include_dashboard=False, logging_level=logging.WARNING)
        num_cpus: float | None = min(1.0, cores / replicas)
    else:
        ray.init(address=address, logging_level=logging.WARNING)
        num_cpus = None
    stopping: list[int] = []  # a signal handler must not take a lock the main thread may hold (Event.set does)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: stopping.append(number))
    try:
        serve.start(
            http_options={
                "host": settings.host,
                "port": settings.port,
                "keep_alive_timeout_s": settings.keepalive_timeout,
            }
        )
        serve.run(glossary_app(settings, replicas, num_cpus), name=APP_NAME, route_prefix="/")
        logger.warning("serving on http://%s:%s/ with %s Ray Serve replica(s)", settings.host, settings.port, replicas)
        while not stopping:
            time.sleep(0.2)
    finally:
        if not address:  # the local Ray started above
            serve.shutdown()  # type: ignore[no-untyped-call]
            ray.shutdown()
        else:
            serve.delete(APP_NAME)  # the cluster and its other applications stay
