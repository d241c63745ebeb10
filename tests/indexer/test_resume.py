"""Resumable builds: embedded chunks are checkpointed beside the index, and a killed build continues.

The mechanics run with the fake encoder; the fault test kills a real `glossary index` process
(the real model, run by ONNX Runtime) while it embeds, and checks the resumed build against an
uninterrupted one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder

from indexer.build import BuildReport, build_index
from indexer.checkpoints import embeddings_dir
from indexer.publish import FAULT_ENV
from indexer.storage import ROWS, read_index
from indexer.texts import embedding_texts
from indexer.validation import load_glossary
from indexer.vectorfile import VectorFile, row_blocks

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"
ROOT = Path(__file__).parent.parent.parent
TEXTS = sorted({text for entry in load_glossary(MINI) for _, text in embedding_texts(entry)})
CHUNK = 8


class Runtime(FakeEncoder):
    """The fake model under another runtime (or another model): its vectors must not be reused."""

    runtime = "another-runtime"


def build(out: Path, encoder: FakeEncoder, source: Path = MINI, **options: object) -> BuildReport:
    return build_index(load_glossary(source), out, encoder.name, lambda: encoder, str(source), **options)  # type: ignore[arg-type]


def interrupted(out: Path, after_texts: int, source: Path = MINI) -> None:
    """A build that fails after embedding `after_texts` texts (a crash inside the model, say)."""
    with pytest.raises(RuntimeError, match="simulated failure"):
        build(out, FakeEncoder(fail_after=after_texts), source, chunk_size=CHUNK)


def test_a_failed_build_resumes_from_its_checkpoints_and_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = FakeEncoder()
    build(tmp_path / "whole", whole, chunk_size=CHUNK)
    interrupted(tmp_path / "index", after_texts=3 * CHUNK + 5)  # three chunks saved, the fourth lost

    assert len(list(embeddings_dir(tmp_path / "index").glob("*/chunk-*.npz"))) == 3
    again = FakeEncoder()
    report = build(tmp_path / "index", again, chunk_size=CHUNK)

    assert (report.resumed, report.embedded) == (3 * CHUNK, len(TEXTS) - 3 * CHUNK)
    assert set(again.calls).isdisjoint(set(whole.calls[: 3 * CHUNK]))  # nothing checkpointed embedded again
    resumed, uninterrupted = read_index(tmp_path / "index"), read_index(tmp_path / "whole")
    assert resumed.rows == uninterrupted.rows
    assert np.array_equal(resumed.row_vectors(), uninterrupted.row_vectors())
    assert resumed.tokens is not None and uninterrupted.tokens is not None  # token vectors came back too
    assert np.array_equal(resumed.tokens.offsets, uninterrupted.tokens.offsets)
    assert np.array_equal(resumed.tokens.vectors, uninterrupted.tokens.vectors)
    assert not embeddings_dir(tmp_path / "index").exists()  # removed once the build is published


def test_no_resume_starts_over(tmp_path: Path) -> None:
    interrupted(tmp_path / "index", after_texts=2 * CHUNK)
    again = FakeEncoder()
    report = build(tmp_path / "index", again, chunk_size=CHUNK, resume=False)
    assert (report.resumed, report.embedded) == (0, len(TEXTS)) and sorted(again.calls) == TEXTS


def test_checkpoints_of_another_model_or_runtime_are_not_reused(tmp_path: Path) -> None:
    interrupted(tmp_path / "index", after_texts=2 * CHUNK)
    other = Runtime()
    report = build(tmp_path / "index", other, chunk_size=CHUNK)
    assert report.resumed == 0 and sorted(other.calls) == TEXTS


def test_only_identical_texts_are_resumed(tmp_path: Path) -> None:
    """An entry edited between the killed build and the next: its new texts are embedded, not looked up."""
    interrupted(tmp_path / "index", after_texts=len(TEXTS) - 1)  # every chunk but the last saved
    edited = tmp_path / "edited.yaml"
    edited.write_text(MINI.read_text().replace("A regularisation method that", "A regularization technique that"))
    again = FakeEncoder()
    build(tmp_path / "index", again, edited, chunk_size=CHUNK)
    changed = next(text for text in again.calls if "regularization technique" in text)
    assert changed.startswith("Dropout: A regularization technique")
    whole = FakeEncoder()
    build(tmp_path / "whole", whole, edited, chunk_size=CHUNK)
    assert np.array_equal(read_index(tmp_path / "index").row_vectors(), read_index(tmp_path / "whole").row_vectors())


def test_a_damaged_checkpoint_is_ignored(tmp_path: Path) -> None:
    interrupted(tmp_path / "index", after_texts=2 * CHUNK)
    chunks = sorted(embeddings_dir(tmp_path / "index").glob("*/chunk-*.npz"))
    chunks[0].write_bytes(chunks[0].read_bytes()[:100])
    report = build(tmp_path / "index", FakeEncoder(), chunk_size=CHUNK)
    assert (report.resumed, report.embedded) == (CHUNK, len(TEXTS) - CHUNK)


def test_vector_file_writes_rows_in_any_order_and_reads_them_in_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((50, 4)).astype(np.float32)
    with VectorFile(50, 4, tmp_path) as vectors:
        order = rng.permutation(50)
        vectors.write(order[:30], expected[order[:30]])
        vectors.write(order[30:], expected[order[30:]])
        assert np.array_equal(np.vstack(list(row_blocks(vectors, size=7))), expected)
    assert list(tmp_path.iterdir()) == []  # an unlinked file: nothing to clean up


def glossary_index(out: Path, *options: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(FAULT_ENV, None)
    if fault is not None:
        env[FAULT_ENV] = fault
    command = [sys.executable, "-m", "search_api.cli", "index", str(MINI), "--out", str(out), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def test_a_killed_glossary_index_resumes_losing_at_most_one_chunk(tmp_path: Path) -> None:
    chunk = ["--chunk-size", str(CHUNK)]
    whole = glossary_index(tmp_path / "whole", *chunk)
    assert whole.returncode == 0, whole.stderr

    killed = glossary_index(tmp_path / "index", *chunk, fault="embedded-chunk-4")  # chunk 4 embedded, not saved
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "index").exists()  # nothing published
    assert len(list(embeddings_dir(tmp_path / "index").glob("*/chunk-*.npz"))) == 3

    resumed = glossary_index(tmp_path / "index", *chunk)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {3 * CHUNK} of {len(TEXTS)} texts were embedded by an interrupted build" in resumed.stderr
    embedded = re.search(r"embedded (\d+) texts, resumed (\d+) from an interrupted build", resumed.stdout)
    assert embedded is not None, resumed.stdout
    again = int(embedded.group(1))
    assert again == len(TEXTS) - 3 * CHUNK  # the lost chunk 4 and those never reached
    assert 4 * CHUNK + again - len(TEXTS) <= CHUNK  # embedded twice over both runs: at most one chunk

    first, second = read_index(tmp_path / "whole"), read_index(tmp_path / "index")
    assert (second.location / ROWS).read_bytes() == (first.location / ROWS).read_bytes()  # type: ignore[operator]
    assert second.manifest.corpus_fingerprint == first.manifest.corpus_fingerprint
    assert np.array_equal(second.row_vectors(), first.row_vectors())
    assert first.tokens is not None and second.tokens is not None
    assert np.array_equal(second.tokens.offsets, first.tokens.offsets)
    assert np.array_equal(second.tokens.vectors, first.tokens.vectors)
    assert not embeddings_dir(tmp_path / "index").exists()
