"""Crash-safe publishing: a build killed (SIGKILL, in a real process) at each step leaves a loadable index.

The fake encoder keeps these fast; the steps are the ones `indexer.publish.checkpoint` names.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.errors import IndexDamagedError, IndexWriteError
from indexer.publish import versions_dir
from indexer.storage import VECTORS, read_index
from indexer.texts import EMBEDDED_FIELDS
from indexer.validation import load_glossary

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"
TESTS = Path(__file__).parent.parent
STEPS = ["prepared", "embedding", "fsync", "files-written", "version-in-place", "link-made", "published", "cleaned"]

KILLED_BUILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from fakes import FakeEncoder
    from indexer import publish
    from indexer.build import build_index
    from indexer.validation import load_glossary

    source, out, step = sys.argv[2], sys.argv[3], sys.argv[4]

    def kill(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    class KilledWhileEmbedding(FakeEncoder):
        def encode(self, texts, progress=None):
            kill("embedding")
            return super().encode(texts, progress)

    publish.step_hook = kill
    encoder = KilledWhileEmbedding()
    build_index(load_glossary(__import__("pathlib").Path(source)), __import__("pathlib").Path(out),
                encoder.name, lambda: encoder, source)
    print("finished without being killed")
    """
)


def build(out: Path, source: Path = MINI, encoder: FakeEncoder | None = None) -> FakeEncoder:
    encoder = encoder or FakeEncoder()
    build_index(load_glossary(source), out, encoder.name, lambda: encoder, str(source))
    return encoder


def edited_copy(tmp_path: Path) -> Path:
    edited = tmp_path / "edited.yaml"
    edited.write_text(MINI.read_text().replace("A regularisation method that", "A regularization technique that"))
    return edited


def kill_build_at(step: str, source: Path, out: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(TESTS), str(source), str(out), step],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, (step, result.stdout, result.stderr)


def leftovers(parent: Path) -> list[str]:
    tmp = [p.name for p in versions_dir(parent / "index").glob(".tmp-*")]
    siblings = [p.name for p in parent.glob(".index.*")]
    return tmp + [name for name in siblings if any(mark in name for mark in (".tmp-", ".old-", ".link-"))]


@pytest.mark.parametrize("step", STEPS)
def test_a_build_killed_at_any_step_leaves_a_loadable_index(tmp_path: Path, step: str) -> None:
    out = tmp_path / "index"
    build(out)
    before = read_index(out).manifest.corpus_fingerprint
    edited = edited_copy(tmp_path)

    kill_build_at(step, edited, out)

    stored = read_index(out)  # loadable: the old build, or the new one once its link is in place
    published = STEPS.index(step) >= STEPS.index("published")
    assert (stored.manifest.corpus_fingerprint != before) == published
    again = build(out, edited)  # the next build cleans up and re-embeds at most the edited entry
    assert len(again.calls) <= len(EMBEDDED_FIELDS)  # one text per embedded field of the edited entry
    assert leftovers(tmp_path) == []
    assert len([v for v in versions_dir(out).iterdir()]) <= 2


@pytest.mark.parametrize("step", ["files-written", "link-made", "published"])
def test_an_index_from_before_versioning_is_replaced_crash_safely(tmp_path: Path, step: str) -> None:
    out = tmp_path / "index"
    build(tmp_path / "built")
    shutil.copytree(tmp_path / "built", out)  # a plain directory, as earlier versions wrote it
    assert not out.is_symlink()

    kill_build_at(step, edited_copy(tmp_path), out)

    read_index(out)
    build(out, edited_copy(tmp_path))
    assert out.is_symlink() and leftovers(tmp_path) == []


def test_publishing_switches_a_symlink_and_keeps_one_previous_build(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build(out)
    first = os.readlink(out)
    build(out, edited_copy(tmp_path))
    second = os.readlink(out)
    assert first != second and out.is_symlink() and not Path(second).is_absolute()
    assert sorted(v.name for v in versions_dir(out).iterdir()) == sorted([Path(first).name, Path(second).name])
    third = tmp_path / "third.yaml"
    third.write_text(MINI.read_text().replace("Dropout", "Drop-out"))
    build(out, third)
    assert Path(first).name not in {v.name for v in versions_dir(out).iterdir()}


def test_unwritable_output_is_one_error_before_any_embedding(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way")
    encoder = FakeEncoder()
    with pytest.raises(IndexWriteError, match=r"^cannot write the index at .*a-file/index: Not a directory; choose"):
        build(tmp_path / "a-file" / "index", encoder=encoder)
    assert encoder.calls == []


def test_the_rebuild_hint_names_the_source(tmp_path: Path) -> None:
    custom = tmp_path / "my glossary.yaml"
    shutil.copy(MINI, custom)
    out = tmp_path / "index"
    build(out, custom)
    vectors = Path(os.path.realpath(out)) / VECTORS
    vectors.write_bytes(vectors.read_bytes()[:50])
    with pytest.raises(IndexDamagedError) as caught:
        read_index(out)
    assert str(caught.value).endswith(f"rebuild it with: glossary index '{custom}' --out {out}")
