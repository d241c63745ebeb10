#!/usr/bin/env python
"""Ray Serve against the multi-worker uvicorn server, in one run, on 127.0.0.1.

Phases (each prints its figures; nothing is asserted):

  uvicorn   `glossary serve` with GLOSSARY_WORKERS=2 (a subprocess): /search from 16
            keep-alive clients for --seconds, after a 3 s warm-up
  ray       the same app on Ray Serve with 2 replicas: a local Ray started in this process,
            deploy/ray-serve.yaml deployed with `serve run CONFIG --non-blocking` (2 replicas,
            no autoscaling); the same clients, the same queries; then the batch sizes seen.
            Once per --ingress: Ray's Python HTTP proxy (the default), and Ray's high
            throughput mode (RAY_SERVE_ENABLE_HA_PROXY=1: HAProxy in front of replicas that
            serve HTTP themselves; RAY_SERVE_THROUGHPUT_OPTIMIZED=1)
  rollout   on Ray, while 16 clients search: 3 builds published at the index path (replicas
            follow it), then a pinned roll-out back to the second build by changing the
            config's user_config (`serve run` again: each replica's reconfigure), then unpinned;
            every answer must be a 200 from one whole build (each build marks every category)

--rounds N repeats the uvicorn and ray phases alternately (the machine is noisy). The
roll-out phase runs on the first --ingress.
The clients, their X-Forwarded-For addresses and the server settings (no rate limit,
127.0.0.1 a trusted proxy, no access log) are those of scripts/bench_service.py.

    .venv/bin/python scripts/bench_ray.py --index /tmp/bench/index
    .venv/bin/python scripts/bench_ray.py --index /tmp/bench/index --seconds 30 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import (
    BIN,
    UNLIMITED,
    command_line,
    descendants,
    free_port,
    latency_line,
    one_build,
    one_request,
    percentile,
    process_cpu_seconds,
    process_rss_mb,
    reindex_clients,
    search_clients,
    serve,
)

from indexer.paths import BUNDLED_CORPUS, PROJECT_ROOT

SERVE_CONFIG = PROJECT_ROOT / "deploy" / "ray-serve.yaml"
CLIENTS = 16
# Ray's "high throughput mode" (Ray Serve docs, "Enable High Throughput on Ray Serve with KubeRay").
HIGH_THROUGHPUT = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="An index of the bundled glossary.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each throughput run (default 20).")
    parser.add_argument("--rounds", type=int, default=1, help="uvicorn and ray phases, alternately (default 1).")
    parser.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas and uvicorn workers (default 2).")
    parser.add_argument("--batch", type=int, default=8, help="GLOSSARY_RAY_BATCH_SIZE (default 8).")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0, help="GLOSSARY_RAY_BATCH_WAIT_MS (default 2).")
    parser.add_argument(
        "--ingress",
        default="proxy,haproxy",
        help="Ray Serve's HTTP ingress, comma-separated: proxy (its Python HTTP proxy, the default) and/or "
        "haproxy (Ray's high throughput mode: RAY_SERVE_ENABLE_HA_PROXY=1, HAProxy in front of replicas that "
        "serve HTTP themselves, and RAY_SERVE_THROUGHPUT_OPTIMIZED=1).",
    )
    parser.add_argument("--no-rollout", action="store_true", help="Skip the roll-out phase.")
    return parser.parse_args()


def machine_line() -> str:
    load = os.getloadavg()
    busy = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    lines = [" ".join(line.split())[:70] for line in busy.splitlines()[1:] if " ps -eo " not in f" {line} "]
    top = "; ".join(lines[:4])
    return f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; busiest processes: {top}"


def measure(port: int, seconds: float, cpu_of: Any) -> dict[str, Any]:
    asyncio.run(search_clients(port, CLIENTS, 3))  # warm every worker or replica
    cpu = cpu_of()
    ok, statuses, times = asyncio.run(search_clients(port, CLIENTS, seconds))
    cpu = cpu_of() - cpu
    return {"rate": ok / seconds, "statuses": statuses, "times": times, "cpu": cpu / seconds, "ok": ok}


def report(name: str, result: dict[str, Any], extra: str = "") -> None:
    print(
        f"{name}: {result['rate']:.0f} answers/s, statuses {result['statuses']}; "
        f"server CPU {result['cpu']:.2f} cores, {1000 * result['cpu'] / max(result['rate'], 1e-9):.1f} CPU-ms per "
        f"answer; " + latency_line("latency", result["times"]) + extra,
        flush=True,
    )


def phase_uvicorn(args: argparse.Namespace) -> dict[str, Any]:
    env = {"GLOSSARY_WORKERS": str(args.replicas), **UNLIMITED}
    with serve(args.index, env, start_timeout=900) as server:  # a shared machine may take minutes
        result = measure(server.port, args.seconds, server.cpu_seconds)
        memory = server.rss_mb()
    report(
        f"uvicorn, GLOSSARY_WORKERS={args.replicas}",
        result,
        "; RSS per process (MB): " + ", ".join(f"{v:.0f}" for v in memory.values()),
    )
    return result


class RayServer:
    """A local Ray in this process, the app deployed from deploy/ray-serve.yaml as an operator would."""

    def __init__(self, index: Path, args: argparse.Namespace, work: Path, ingress: str = "proxy") -> None:
        import ray

        # Read by Ray's processes as they start (they inherit this environment), and by `serve run`.
        for name in HIGH_THROUGHPUT:
            os.environ.pop(name, None)
        if ingress == "haproxy":
            os.environ.update(HIGH_THROUGHPUT)
        self.index, self.work, self.ingress = index, work, ingress
        self.port = free_port()
        self.loop: asyncio.AbstractEventLoop | None = None  # where deployment handles run (see stats)
        for attempt in range(3):  # a saturated machine can miss the 30 s Ray gives its raylet to start
            before = set(descendants(os.getpid()))
            try:
                ray.init(
                    address="local",
                    num_cpus=os.cpu_count(),
                    include_dashboard=False,
                    logging_level="ERROR",
                    log_to_driver=False,
                )
                break
            except Exception as exc:
                print(f"(Ray did not start: {exc})", flush=True)
                ray.shutdown()
                for pid in set(descendants(os.getpid())) - before:  # leave nothing behind
                    with suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                if attempt == 2:
                    raise
        print(f"(Ray started, ingress {ingress}; {machine_line()})", flush=True)
        config = yaml.safe_load(SERVE_CONFIG.read_text())
        config["http_options"].update(host="127.0.0.1", port=self.port)
        app = config["applications"][0]
        app["args"].update(
            index=str(index),
            ray_batch_size=args.batch,
            ray_batch_wait_ms=args.batch_wait_ms,
            rate_limit="",
            trusted_proxies=["127.0.0.1"],
            access_log=False,
            reload_interval=1,
        )
        deployment = app["deployments"][0]
        del deployment["autoscaling_config"]
        deployment.update(num_replicas=args.replicas, ray_actor_options={"num_cpus": 1})
        self.config = config
        self.deploy(config)

    def deploy(self, config: dict[str, Any]) -> None:
        from ray import serve

        path = self.work / f"ray-serve-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump(config))
        command = [str(BIN / "serve"), "run", str(path), "--non-blocking", "--address", self.address()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"serve run failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        deadline = time.monotonic() + 300
        while (status := serve.status().applications.get("glossary")) is None or status.status != "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the application did not start: {status}")
            time.sleep(0.2)
        while asyncio.run(one_request(self.port, "/health"))[0] != 200:
            time.sleep(0.2)

    @staticmethod
    def address() -> str:
        import ray

        return str(ray.get_runtime_context().gcs_address)

    def stats(self) -> list[dict[str, Any]]:
        from ray import serve

        async def collect() -> list[dict[str, Any]]:
            handle = serve.get_deployment_handle("glossary", "glossary")
            return list(await handle.broadcast("stats").results_async(timeout_s=60))

        # In the high throughput mode a handle's router runs on the caller's event loop, and must keep
        # running there: one loop, on a thread of its own, for every call.
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
        return asyncio.run_coroutine_threadsafe(collect(), self.loop).result(90)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(descendants(os.getpid()))

    def replica_rss(self) -> list[float]:
        return [process_rss_mb(pid) for pid in descendants(os.getpid()) if "ServeReplica" in command_line(pid)]

    def total_rss(self) -> float:
        return sum(process_rss_mb(pid) for pid in descendants(os.getpid()))

    def close(self) -> None:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()


def phase_ray(server: RayServer, args: argparse.Namespace) -> dict[str, Any]:
    """Throughput on Ray; RSS and CPU count every process of the local Ray (GCS, raylet, controller, ingress)."""
    before = Counter[int]()
    for stats in server.stats():
        before.update({int(k): v for k, v in stats["batches"].items()})
    idle = server.cpu_seconds()
    time.sleep(5)
    idle = (server.cpu_seconds() - idle) / 5  # what the local Ray spends doing nothing
    result = measure(server.port, args.seconds, server.cpu_seconds)
    after = Counter[int]()
    for stats in server.stats():
        after.update({int(k): v for k, v in stats["batches"].items()})
    batches = after - before
    searches = sum(size * count for size, count in batches.items())
    mean = searches / max(sum(batches.values()), 1)
    sizes = ", ".join(f"{size}: {batches[size]}" for size in sorted(batches))
    report(
        f"ray serve, {args.replicas} replicas, ingress {server.ingress}",
        result,
        f"; idle before, all Ray processes: {idle:.2f} cores"
        f"; RSS per replica (MB): {', '.join(f'{v:.0f}' for v in server.replica_rss())}, all Ray processes "
        f"{server.total_rss():.0f} MB; batches of size n (n: count) {{{sizes}}}, mean {mean:.2f} queries per "
        "model call",
    )
    return result


def publish_marked(index: Path, work: Path, number: int) -> str:
    from indexer.validation import load_glossary

    source = work / f"build-{number}.jsonl"
    marker = f"bench build {number}"
    entries = load_glossary(BUNDLED_CORPUS, complete=True)
    source.write_text("".join(json.dumps({**e.model_dump(mode="json"), "category": marker}) + "\n" for e in entries))
    subprocess.run([str(BIN / "glossary"), "index", str(source), "--out", str(index)], check=True, capture_output=True)
    return marker


def wait_for(server: RayServer, build: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while {s["build"] for s in server.stats()} != {build}:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the replicas did not all switch to {build}")
        time.sleep(0.2)
    return time.monotonic() - started


def phase_rollout(server: RayServer) -> None:
    index = server.index
    markers: dict[str, str | None] = {build: None for build in {s["build"] for s in server.stats()}}
    answers: list[tuple[int, str, set[str]]] = []
    stop = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(reindex_clients(server.port, stop, answers)))
    thread.start()
    switches = []
    builds = []
    try:
        for number in (1, 2, 3):  # follow: publish at the index path, each replica's watcher loads it
            marker = publish_marked(index, server.work, number)
            build = Path(os.readlink(index)).name
            builds.append(build)
            markers[build] = marker
            switches.append(("published", wait_for(server, build)))
            time.sleep(1)
        pinned = copy.deepcopy(server.config)  # pin the build before (publishing keeps it): reconfigure
        pinned["applications"][0]["deployments"][0]["user_config"] = {"index_version": builds[1]}
        started = time.monotonic()
        server.deploy(pinned)
        switches.append(("pinned by user_config", wait_for(server, builds[1]) + time.monotonic() - started))
        time.sleep(1)
        started = time.monotonic()
        server.deploy(server.config)  # unpinned: back to the build at the index path
        switches.append(("unpinned", wait_for(server, build) + time.monotonic() - started))
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    failed = [a for a in answers if a[0] != 200]
    mixed = [a for a in answers if a[0] == 200 and not one_build(a, markers)]
    served = Counter(a[1] for a in answers if a[0] == 200)
    print(
        f"rollout: 3 builds published at the index path, then the second pinned by user_config, then unpinned, "
        f"while {CLIENTS} clients searched: {len(answers)} answers, {len(failed)} failed "
        f"(statuses {dict(Counter(a[0] for a in answers))}), {len(mixed)} mixing builds or not from their build; "
        f"answers per build {dict(served)}",
        flush=True,
    )
    print("rollout: seconds until every replica served the build: " + ", ".join(f"{n} {s:.1f}" for n, s in switches))


def main() -> None:
    args = parse_args()
    print(f"bench_ray: {os.cpu_count()} CPUs, index {args.index}; {machine_line()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    index = work / "index"
    shutil.copytree(os.path.realpath(args.index), index)  # a copy the roll-out may publish over
    subprocess.run(  # the versioned layout (embeds nothing: the copy's vectors are reused)
        [str(BIN / "glossary"), "index", "--out", str(index)], check=True, capture_output=True
    )
    ingresses = [name.strip() for name in args.ingress.split(",") if name.strip()]
    results: dict[str, list[dict[str, Any]]] = {"uvicorn": [], **{f"ray {name}": [] for name in ingresses}}
    try:
        for _ in range(args.rounds):
            results["uvicorn"].append(phase_uvicorn(args))
            print(f"({machine_line()})", flush=True)
            for ingress in ingresses:
                server = RayServer(index, args, work, ingress)
                try:
                    results[f"ray {ingress}"].append(phase_ray(server, args))
                    print(f"({machine_line()})", flush=True)
                finally:
                    server.close()
        if not args.no_rollout:
            server = RayServer(index, args, work, ingresses[0])
            try:
                phase_rollout(server)
            finally:
                server.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate = {name: sum(r["rate"] for r in runs) / len(runs) for name, runs in results.items()}
    p99 = {name: percentile([t for r in runs for t in r["times"]], 0.99) for name, runs in results.items()}
    for name in results:
        if name != "uvicorn":
            print(
                f"summary over {args.rounds} round(s), {name}: throughput / uvicorn = "
                f"{rate[name] / rate['uvicorn']:.2f} ({rate[name]:.0f} vs {rate['uvicorn']:.0f} answers/s); "
                f"p99 / uvicorn = {p99[name] / p99['uvicorn']:.2f} ({p99[name]:.1f} vs {p99['uvicorn']:.1f} ms)"
            )


if __name__ == "__main__":
    main()
