"""The `glossary` command: validate, index, search, serve, eval.

Progress goes to stderr, results to stdout; every domain error becomes one line on
stderr and a non-zero exit code.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from indexer.build import ProgressStart
from indexer.encoder import CHUNK_SIZE, DEFAULT_MODEL, Encoder, available_cores, cuda_available
from indexer.errors import CorpusValidationError, GlossaryError
from indexer.model_spec import BASE_MODEL as DEFAULT_BASE
from indexer.model_spec import BUNDLED_ADAPTER, BUNDLED_ADAPTERS, DEFAULT_QUERY_MODEL, canonical_model
from indexer.paths import BUNDLED_CORPUS, BUNDLED_QUERIES, default_index_dir
from indexer.tokens import TOKENS_UP_TO
from indexer.tuning import TuneSettings
from search_api.hits import Hit
from search_api.searcher import MAX_K
from search_api.settings import Settings

app = typer.Typer(help="Glossary Search: semantic search over definitions.", no_args_is_help=True, add_completion=False)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

SourceArg = Annotated[
    Path | None, typer.Argument(help="Glossary file or directory (YAML, JSONL, CSV). Default: the bundled glossary.")
]
IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", envvar="GLOSSARY_INDEX", help="Index directory. Default: .index/ in the project."),
]


class EvalSplit(StrEnum):
    dev = "dev"
    test = "test"


class VectorIndexKind(StrEnum):
    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"


class Grouping(StrEnum):
    term = "term"


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a domain error into one line on stderr and exit code 1."""
    try:
        yield
    except CorpusValidationError as exc:
        for problem in exc.problems:
            out.print(str(problem), markup=False, soft_wrap=True)
        err.print(f"{len(exc.problems)} problem(s) found.", markup=False)
        raise typer.Exit(1) from exc
    except GlossaryError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc


def _settings(**values: object) -> Settings:
    """The settings from GLOSSARY_* variables (and these values), or one line saying what is wrong."""
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"GLOSSARY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err.print(f"error: invalid setting: {problems}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc


@app.command()
def validate(
    source: SourceArg = None,
    complete: Annotated[
        bool | None,
        typer.Option("--complete/--partial", help="Demand every field (default: only for the bundled glossary)."),
    ] = None,
) -> None:
    """Check a glossary and report every problem with its file, line, entry and field.

    Example: glossary validate my_glossary.csv
    """
    from indexer.validation import load_glossary

    path = source or BUNDLED_CORPUS
    with domain_errors():
        entries = load_glossary(path, complete=source is None if complete is None else complete)
    out.print(f"OK: {len(entries)} entries in {path}", markup=False)


PROGRESS_LOG_SECONDS = 5.0  # how often a build not on a terminal logs its progress


class TextCounts:
    """Texts embedded so far, and the share of the work they were: the build embeds short texts first,
    so time left is estimated from the texts' lengths, not their number."""

    def __init__(self, costs: Sequence[int]) -> None:
        self.total = len(costs)
        self._cumulative = list(itertools.accumulate(costs))
        self.done = 0

    def advance(self, count: int) -> float:
        """Count `count` more texts embedded; return the work they were."""
        before = self.work_done
        self.done = min(self.done + count, self.total)
        return self.work_done - before

    @property
    def work_done(self) -> float:
        return float(self._cumulative[self.done - 1]) if self.done else 0.0

    @property
    def work_total(self) -> float:
        return float(self._cumulative[-1]) if self._cumulative else 0.0

    def seconds_left(self, elapsed: float) -> float | None:
        done = self.work_done
        return elapsed * (self.work_total - done) / done if done else None


class RateColumn(ProgressColumn):
    """Texts embedded per second since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed or 0.0
        texts = int(task.fields.get("texts", 0))
        return Text(f"{texts / elapsed:,.0f} texts/s" if elapsed > 0 and texts else "- texts/s")


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[ProgressStart | None]:
    """A bar on a terminal (count, rate, time left); elsewhere (CI, a log file) a line every few seconds."""
    if not enabled:
        yield progress_log
        return
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        TextColumn("{task.fields[texts]:,}/{task.fields[total_texts]:,} texts"),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),  # from the work done (the texts' lengths), which the bar counts
    )
    with Progress(*columns, console=err, transient=True) as progress:

        def start(costs: Sequence[int]) -> Callable[[int], None]:
            counts = TextCounts(costs)
            task = progress.add_task("embed", total=counts.work_total, texts=0, total_texts=counts.total)

            def advance(count: int) -> None:
                progress.update(task, advance=counts.advance(count), texts=counts.done)

            return advance

        yield start


def progress_log(costs: Sequence[int], every: float = PROGRESS_LOG_SECONDS) -> Callable[[int], None]:
    """Log `embedded N/TOTAL texts (R texts/s, about M min left)` at most every `every` seconds, and at the end."""
    counts = TextCounts(costs)
    started = last = time.monotonic()

    def advance(count: int) -> None:
        nonlocal last
        counts.advance(count)
        now = time.monotonic()
        if now - last < every and counts.done < counts.total:
            return
        last = now
        rate = counts.done / max(now - started, 1e-9)
        left = (counts.seconds_left(now - started) or 0.0) / 60
        err.print(
            f"embedded {counts.done:,}/{counts.total:,} texts ({rate:,.0f} texts/s, about {left:.0f} min left)",
            markup=False,
        )

    return advance


def build_status(message: str) -> None:
    """What a build is doing between stretches of embedding, on stderr."""
    err.print(message, markup=False, soft_wrap=True)


class BuildEncoder(StrEnum):
    auto = "auto"
    onnx = "onnx"
    torch = "torch"


@app.command()
def index(
    source: SourceArg = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", envvar="GLOSSARY_INDEX", help="Index directory to write.")
    ] = None,
    model: Annotated[
        str, typer.Option(envvar="GLOSSARY_MODEL", help="sentence-transformers model name or local path.")
    ] = DEFAULT_MODEL,
    query_model: Annotated[
        str | None,
        typer.Option(
            envvar="GLOSSARY_QUERY_MODEL",
            help="Model that embeds queries: MODEL+ADAPTER (a `glossary tune` adapter) or MODEL. "
            f"Default: {DEFAULT_QUERY_MODEL} with the default model, else --model.",
        ),
    ] = None,
    vector_index: Annotated[
        VectorIndexKind,
        typer.Option(
            "--vector-index",
            help="FAISS index: exact (flat), approximate (hnsw), or auto: hnsw from 50,000 vectors on.",
        ),
    ] = VectorIndexKind.auto,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="Reuse the chunks an interrupted build of the same index embedded (default); or start over.",
        ),
    ] = True,
    encoder: Annotated[
        BuildEncoder,
        typer.Option(
            envvar="GLOSSARY_BUILD_ENCODER",
            help="What runs the model: onnx (ONNX Runtime: the same vectors, faster on a CPU), torch, "
            "or auto (torch on a CUDA GPU, else onnx).",
        ),
    ] = BuildEncoder.auto,
    threads: Annotated[
        int | None,
        typer.Option(envvar="GLOSSARY_BUILD_THREADS", min=1, help="Threads for embedding. Default: one per core."),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Texts embedded between two checkpoints (a killed build loses at most one).")
    ] = CHUNK_SIZE,
) -> None:
    """Embed a glossary into an index directory; unchanged entries are not embedded again.

    A killed or failed build resumes where it stopped when run again.

    Example: glossary index my_glossary.jsonl --out ./my-index
    """
    from indexer.build import build_index
    from indexer.onnx_encoder import load_runtime_encoder
    from indexer.validation import load_glossary

    path, target = source or BUNDLED_CORPUS, out_dir or default_index_dir()
    cores = threads or available_cores()

    def load_model() -> Encoder:
        kind = encoder.value if encoder is not BuildEncoder.auto else "torch" if cuda_available() else "onnx"
        build_status(f"loading the model {model} ({kind}, {cores} thread(s))")
        return load_runtime_encoder(model, cores, kind)

    with domain_errors(), _progress_bar(err.is_terminal) as progress:
        entries = load_glossary(path, complete=source is None)
        # The manifest keeps the absolute source, so that a rebuild hint can name it from anywhere.
        if query_model is None:
            query_model = DEFAULT_QUERY_MODEL if model == DEFAULT_MODEL else model
        report = build_index(
            entries,
            target,
            model,
            load_model,
            str(path.resolve()),
            progress,
            query_model=query_model,
            vector_index=vector_index.value,
            resume=resume,
            chunk_size=chunk_size,
            status=build_status,
        )
    if report.up_to_date:
        state = "up to date"
    else:
        resumed = f", resumed {report.resumed} from an interrupted build" if report.resumed else ""
        state = f"embedded {report.embedded} texts{resumed}, reused {report.reused}"
    out.print(
        f"Indexed {report.entries} entries as {report.vectors} vectors in {report.seconds:.1f} s "
        f"({state}) -> {report.path}",
        markup=False,
        soft_wrap=True,
    )
    out.print(report.vector_index.describe(), markup=False, soft_wrap=True)
    if report.tokens:
        out.print(f"token store: {report.tokens:,} token vectors for late interaction", markup=False, soft_wrap=True)
    else:
        out.print(
            f"no token store (more than {TOKENS_UP_TO:,} entries, or an approximate vector index): "
            "ranked without late interaction",
            markup=False,
            soft_wrap=True,
        )


@app.command()
def tune(
    out_dir: Annotated[Path, typer.Option("--out", help="Adapter directory to write.")],
    source: Annotated[
        Path | None, typer.Option("--glossary", help="Glossary to draw examples from. Default: the bundled glossary.")
    ] = None,
    wordnet: Annotated[
        Path | None,
        typer.Option(
            help="WordNet 3.0 dict directory (Debian: apt-get install wordnet-base); --wordnet-pairs 0 skips WordNet."
        ),
    ] = Path("/usr/share/wordnet"),
    exclude_words: Annotated[
        list[Path] | None,
        typer.Option(
            help="Words whose WordNet glosses stay out of training: one per line, or a JSONL query file whose "
            "'expected' is the word (the reverse-dictionary benchmark's queries). Repeatable."
        ),
    ] = None,
    wordnet_pairs: Annotated[int, typer.Option(min=0, help="WordNet gloss -> word examples to sample.")] = (
        TuneSettings().wordnet_pairs
    ),
    epochs: Annotated[int, typer.Option(min=1)] = TuneSettings().epochs,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = TuneSettings().learning_rate,
    seed: Annotated[int, typer.Option()] = TuneSettings().seed,
) -> None:
    """Train a query adapter that fits the encoder to descriptions (about 30 minutes on 2 CPU cores).

    Use it with `glossary index --query-model sentence-transformers/all-MiniLM-L6-v2+DIR`: the
    index records the adapter's checksum, and nothing is re-embedded (the adapter changes only
    how queries are embedded).

    Example: glossary tune --out ./my-adapter --glossary my_glossary.yaml
    """
    from dataclasses import replace

    from indexer.tuning import glossary_targets, read_words, train_adapter, wordnet_targets
    from indexer.validation import load_glossary

    settings = replace(
        TuneSettings(), wordnet_pairs=wordnet_pairs, epochs=epochs, learning_rate=learning_rate, seed=seed
    )
    with domain_errors():
        tables = [glossary_targets(load_glossary(source or BUNDLED_CORPUS, complete=source is None))]
        if wordnet is not None and wordnet_pairs:
            held_out = {word for path in exclude_words or [] for word in read_words(path)}
            tables.append(wordnet_targets(wordnet, held_out, wordnet_pairs, seed))
        sizes = ", ".join(f"{len(t.examples):,} {t.name} examples" for t in tables)
        err.print(f"tune: {sizes}; {settings}", markup=False, soft_wrap=True)
        written = train_adapter(tables, out_dir, settings, log=lambda line: err.print(line, markup=False))
    name = f"{DEFAULT_BASE}+{BUNDLED_ADAPTER if written == BUNDLED_ADAPTERS[BUNDLED_ADAPTER] else written}"
    out.print(f"Adapter written to {written}; query model {canonical_model(name)}", markup=False, soft_wrap=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="A question or a name.")],
    index_dir: IndexOpt = None,
    k: Annotated[int, typer.Option("--k", min=1, max=MAX_K, help="How many hits at most.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print {query, hits} as JSON.")] = False,
    group: Annotated[
        Grouping | None,
        typer.Option("--group", help="term: one hit per distinct term, its other matching senses under it."),
    ] = None,
) -> None:
    """Search the index and print the ranked hits.

    Example: glossary search "what happens when a model makes predictions?" --k 3
    """
    grouping = group.value if group is not None else None
    with domain_errors():
        answer = _settings(index=index_dir or default_index_dir()).load_searcher().answer(query, k, group=grouping)
    if as_json:
        payload = {
            "query": answer.query,
            "hits": [_hit_json(hit, grouping is not None) for hit in answer.hits],
            "did_you_mean": answer.did_you_mean,
            "read_as": answer.read_as,
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if answer.read_as:
        out.print(f"Read as {answer.read_as!r}.", markup=False)
    if not answer.hits:
        hint = f" Did you mean {answer.did_you_mean!r}?" if answer.did_you_mean else ""
        out.print(f"No entry answers {answer.query!r}.{hint}", markup=False)
    for rank, hit in enumerate(answer.hits, start=1):
        out.print(f"{rank}. {hit.term}  [{hit.id}]  score {hit.score:.3f}  matched {hit.matched_field}", markup=False)
        out.print(f"   {hit.snippet}", markup=False, soft_wrap=True)
        for sense in hit.senses:
            out.print(f"   also: [{sense.id}]  score {sense.score:.3f}  {sense.snippet}", markup=False, soft_wrap=True)


def _hit_json(hit: Hit, grouped: bool) -> dict[str, object]:
    """A hit as JSON; `senses` only when results are grouped (as /search does)."""
    data = asdict(hit)
    senses = data.pop("senses")
    if grouped:
        data["senses"] = [{k: v for k, v in sense.items() if k != "senses"} for sense in senses]
    return data


@app.command()
def serve(
    index_dir: IndexOpt = None,
    host: Annotated[str, typer.Option(envvar="GLOSSARY_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="GLOSSARY_PORT")] = 8000,
    workers: Annotated[
        int | None, typer.Option(envvar="GLOSSARY_WORKERS", min=1, help="Worker processes. Default: one per core.")
    ] = None,
    on_ray: Annotated[
        bool, typer.Option("--ray", help="Serve with Ray Serve: on RAY_ADDRESS's cluster, else on a local Ray.")
    ] = False,
    replicas: Annotated[
        int | None, typer.Option(min=1, help="With --ray: replicas, each loading the index. Default: one per core.")
    ] = None,
) -> None:
    """Serve the HTTP API, the demo page and the widget; new index builds are picked up without a restart.

    Example: glossary serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    from indexer.storage import read_index
    from search_api.server import run

    values: dict[str, object] = {"index": index_dir or default_index_dir(), "host": host, "port": port}
    if workers is not None:
        values["workers"] = workers
    settings = _settings(**values)
    if on_ray:
        _serve_on_ray(settings, replicas or settings.workers)
        return
    if replicas is not None:
        err.print("error: --replicas is for --ray; without it, use --workers", markup=False)
        raise typer.Exit(2)
    with domain_errors():
        if settings.workers == 1:
            searcher = settings.load_searcher()
            entries = searcher.index.manifest.entries
        else:  # each worker loads the index and the model itself; here it is only checked
            searcher, entries = None, read_index(settings.index).manifest.entries
    err.print(
        f"serving {settings.index} ({entries} entries) on http://{host}:{port}/ "
        f"with {settings.workers} worker process(es)",
        markup=False,
        soft_wrap=True,
    )
    if searcher is None:
        run(settings)
    else:
        from search_api.app import create_app

        run(settings, create_app(settings, searcher))


def _serve_on_ray(settings: Settings, replicas: int) -> None:
    from indexer.storage import read_index

    try:
        from search_api import ray_deployment
    except ImportError as exc:
        err.print(f"error: --ray needs Ray Serve ({exc}): pip install 'glossary-search[ray]'", markup=False)
        raise typer.Exit(1) from exc
    address = os.environ.get("RAY_ADDRESS")
    if not address:  # on a cluster, the index path is the nodes' to see, not necessarily this machine's
        with domain_errors():
            read_index(settings.index)  # a missing or damaged index: one line here, not failing replicas
    where = address or "a local Ray"
    err.print(
        f"serving {settings.index} on http://{settings.host}:{settings.port}/ with {replicas} Ray Serve "
        f"replica(s) on {where}",
        markup=False,
        soft_wrap=True,
    )
    with domain_errors():
        ray_deployment.run(settings, replicas)


@app.command("eval")
def evaluate_command(
    index_dir: IndexOpt = None,
    queries: Annotated[
        Path, typer.Option(help="JSONL file of {query, expected, kind[, split, origin]}.")
    ] = BUNDLED_QUERIES,
    split: Annotated[
        EvalSplit | None,
        typer.Option(help="Only the queries of this split: dev (for choosing) or test (for reporting). Default: all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Measure ranking quality: Recall@1/5, MRR@10, nDCG@10, AP@10 per query kind, per signal.

    Example: glossary eval --split test
    """
    from search_api.evaluation import evaluate, load_queries

    with domain_errors():
        searcher = _settings(index=index_dir or default_index_dir()).load_searcher()
        chosen = load_queries(queries, set(searcher.by_id), split.value if split is not None else None)
        report = evaluate(searcher, chosen)
    if as_json:
        payload = {"scores": report.scores, "none_rejected": report.rejected, "counts": report.counts}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from search_api.eval_table import render_report

    out.print(render_report(report), width=max(out.width, 110))  # never cut the table's columns


def main() -> None:
    app()


if __name__ == "__main__":
    main()
