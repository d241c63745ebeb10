#!/usr/bin/env python
"""Index builds: raw encoder throughput against build throughput, torch against ONNX, memory, small edits.

Prints, for the first N entries of a glossary (the reverse-dictionary JSONL, say):

- the encoder's raw throughput on the build's texts (ONNX Runtime, all texts sorted by length), measured
  before and after the build, and the build's own embedding throughput on the same texts, as a ratio;
- torch against ONNX Runtime in batches on a sample of those texts: texts/s unsorted and sorted by
  length, and the cosine between their vectors;
- the peak RSS of `glossary index` building the sample in a process of its own;
- the wall and CPU time of `glossary index` after a one-entry edit of the bundled glossary;
- the time from starting `glossary serve` until `/health` answers, with one and two workers.

    .venv/bin/python scripts/bench_build.py --glossary GLOSSARY.jsonl [--entries 2000] [--rss-entries 30000]
        [--bundled-index DIR] [--skip rss,reindex,serve]

Other work on the machine changes every figure: the script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from indexer.build import build_index
from indexer.encoder import CHUNK_SIZE, DEFAULT_MODEL, Encoder, available_cores, load_encoder
from indexer.onnx_encoder import load_onnx_encoder
from indexer.paths import BUNDLED_CORPUS
from indexer.texts import embedding_texts
from indexer.validation import load_glossary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import free_port

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.1f} texts/s ({count:,} texts in {seconds:.1f} s)"


def timed(encode: Callable[[], object]) -> float:
    started = time.perf_counter()
    encode()
    return time.perf_counter() - started


def old_torch_encode(encoder: Encoder, texts: Sequence[str]) -> None:
    """The encoder before this change: chunks of 1,024 texts in corpus order (each sorted by sentence-transformers)."""
    model = encoder._model  # type: ignore[attr-defined]
    for start in range(0, len(texts), CHUNK_SIZE):
        model.encode(list(texts[start : start + CHUNK_SIZE]), batch_size=32, normalize_embeddings=True)


def unsorted_onnx_encode(encoder: Encoder, texts: Sequence[str]) -> None:
    """ONNX Runtime in batches of 32 in corpus order (the padding cost that sorting avoids)."""
    for start in range(0, len(texts), 32):
        encoder._embed_batch(list(texts[start : start + 32]))  # type: ignore[attr-defined]


def run_child(command: list[str]) -> tuple[float, float, float, str, str]:
    """Wall seconds, CPU seconds, peak RSS (MiB), stdout and stderr of one process of its own."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)  # this process's own CPU time and peak RSS
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr


def glossary_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "search_api.cli", *args]


def throughput(entries_file: Path, work: Path, threads: int, torch_sample: int) -> None:
    entries = load_glossary(entries_file)
    texts = list(dict.fromkeys(text for entry in entries for _, text in embedding_texts(entry)))
    print(f"sample: {len(entries):,} entries, {len(texts):,} distinct texts to embed; {threads} thread(s); {load()}")
    onnx = load_onnx_encoder(DEFAULT_MODEL, threads)
    raw_before = timed(lambda: onnx.encode(texts))
    print(f"raw ONNX encoder, all texts sorted by length: {rate(len(texts), raw_before)}")

    marks: dict[str, float] = {}

    def progress(costs: Sequence[int]) -> Callable[[int], None]:
        marks["embedding"] = time.perf_counter()
        return lambda _: None

    def status(message: str) -> None:
        if message.startswith("writing the index"):
            marks["writing"] = time.perf_counter()

    started = time.perf_counter()
    report = build_index(
        entries, work / "index", DEFAULT_MODEL, lambda: onnx, str(entries_file), progress, status=status
    )
    whole = time.perf_counter() - started
    phase = marks["writing"] - marks["embedding"]
    raw_after = timed(lambda: onnx.encode(texts))
    raw = (raw_before + raw_after) / 2
    print(f"build, embedding phase (sorting, chunks, checkpoints, vector file): {rate(report.embedded, phase)}")
    print(f"build, whole (validation aside: model, embedding, FAISS, BM25, publish): {rate(report.embedded, whole)}")
    print(f"raw ONNX encoder again after the build: {rate(len(texts), raw_after)}")
    print(f"build embedding / raw encoder (mean of before and after): {raw / phase:.2f}; {load()}")

    sample = texts[:torch_sample]
    torch = load_encoder(DEFAULT_MODEL, threads)
    figures = {
        "torch, chunks of 1,024 in corpus order (before)": timed(lambda: old_torch_encode(torch, sample)),
        "torch, all sorted by length": timed(lambda: torch.encode(sample)),
        "ONNX Runtime, batches in corpus order": timed(lambda: unsorted_onnx_encode(onnx, sample)),
        "ONNX Runtime, all sorted by length": timed(lambda: onnx.encode(sample)),
    }
    for name, seconds in figures.items():
        print(f"{name}: {rate(len(sample), seconds)}")
    cosines = np.sum(torch.encode(sample) * onnx.encode(sample), axis=1)
    print(f"cosine ONNX vs torch over {len(sample):,} texts: min {cosines.min():.7f}, mean {cosines.mean():.7f}")
    print(load())


def peak_rss(entries_file: Path, work: Path, threads: int) -> None:
    wall, cpu, rss, out, _ = run_child(
        glossary_command("index", str(entries_file), "--out", str(work / "rss-index"), "--threads", str(threads))
    )
    print(f"glossary index {entries_file.name}: peak RSS {rss:,.0f} MiB, {wall:.0f} s wall, {cpu:.0f} s CPU")
    print(f"  {out.strip()}; {load()}")


def bundled(work: Path, bundled_index: Path | None) -> tuple[Path, Path]:
    """A copy of the bundled glossary and its index (copied from `bundled_index`, or built)."""
    corpus, index = work / "corpus", work / "bundled-index"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    if bundled_index is not None:
        shutil.copytree(bundled_index, index, symlinks=False)
    wall, _, _, out, _ = run_child(glossary_command("index", str(corpus), "--out", str(index)))
    print(f"bundled glossary index (copied or built): {wall:.1f} s: {out.strip()}")
    return corpus, index


def reindex(corpus: Path, index: Path) -> None:
    file = corpus / "data.yaml"
    original = file.read_text("utf-8")
    for attempt in range(1, 4):
        marker = f" (edit {attempt})"
        edited = original.replace("  definition: >-\n", f"  definition: >-\n    Edited{marker}.\n", 1)
        file.write_text(edited, "utf-8")
        wall, cpu, rss, out, _ = run_child(glossary_command("index", str(corpus), "--out", str(index)))
        print(f"one-entry edit, glossary index: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MiB; {load()}")
        print(f"  {out.strip()}")


def serve(index: Path, runs: int) -> None:
    for workers in (1, 2):
        times = []
        for _ in range(runs):
            port = free_port()
            command = glossary_command("serve", "--index", str(index), "--port", str(port), "--workers", str(workers))
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            while process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.01)
            seconds = time.perf_counter() - started
            process.terminate()
            process.wait(60)
            times.append(seconds)
            print(f"glossary serve --workers {workers}: /health answered {seconds:.2f} s after starting; {load()}")
        print(f"glossary serve --workers {workers}: median {statistics.median(times):.2f} s over {runs} starts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glossary", type=Path, help="a JSONL glossary; its first --entries lines are the sample")
    parser.add_argument("--entries", type=int, default=2000, help="entries for the throughput figures")
    parser.add_argument("--torch-sample", type=int, default=1000, help="texts for the torch/ONNX comparison")
    parser.add_argument("--rss-entries", type=int, default=30000, help="entries for the peak RSS figure")
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--bundled-index", type=Path, help="an index of the bundled glossary to copy (else built)")
    parser.add_argument("--skip", default="", help="comma-separated: throughput, rss, reindex, serve")
    parser.add_argument("--serve-runs", type=int, default=5, help="starts of `glossary serve` per worker count")
    parser.add_argument(
        "--hide-numba",
        action="store_true",
        help="run the glossary commands as `pip install -e .` installs them: without numba (only the test "
        "extras bring it, through ranx), which bm25s imports when it is there and never uses here",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        work = Path(tmp)
        if args.hide_numba:
            (work / "hidden" / "numba").mkdir(parents=True)
            (work / "hidden" / "numba" / "__init__.py").write_text('raise ImportError("numba hidden by bench_build")\n')
            paths = [str(work / "hidden"), os.environ.get("PYTHONPATH", "")]
            os.environ["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        if args.glossary is not None:
            lines = args.glossary.read_text("utf-8").splitlines()
            for name, count in (("throughput", args.entries), ("rss", args.rss_entries)):
                if name in skip:
                    continue
                sample = work / f"{name}-{count}.jsonl"
                sample.write_text("\n".join(lines[:count]) + "\n", "utf-8")
                if name == "throughput":
                    throughput(sample, work / name, args.threads, args.torch_sample)
                else:
                    peak_rss(sample, work, args.threads)
        if not {"reindex", "serve"} <= skip:
            corpus, index = bundled(work, args.bundled_index)
            if "reindex" not in skip:
                reindex(corpus, index)
            if "serve" not in skip:
                serve(index, args.serve_runs)


if __name__ == "__main__":
    main()
