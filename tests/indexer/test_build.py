"""Atomic, incremental index builds and refusing damaged indexes (fake encoder: mechanics only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEncoder

from indexer.build import build_index
from indexer.errors import IndexDamagedError, IndexMissingError, IndexVersionError
from indexer.publish import versions_dir
from indexer.storage import MANIFEST, VECTORS, read_index
from indexer.texts import embedding_texts
from indexer.tokens import stores_field
from indexer.validation import load_glossary

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"


def build(out: Path, encoder: FakeEncoder, source: Path = MINI, **kwargs: object):  # type: ignore[no-untyped-def]
    return build_index(load_glossary(source), out, encoder.name, lambda: encoder, str(source), **kwargs)  # type: ignore[arg-type]


def files_of(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def no_temporary_files(parent: Path) -> bool:
    """Only the published index, its versions and its lock: nothing a failed build wrote."""
    hidden = {p.name for p in parent.iterdir() if p.name.startswith(".")}
    assert hidden <= {".index.versions", ".index.lock", ".index.embeddings"}, hidden
    return not list(versions_dir(parent / "index").glob(".tmp-*"))


def test_build_writes_one_row_per_field_text(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    report = build(tmp_path / "index", encoder)
    entries = load_glossary(MINI)
    expected_rows = sum(len(embedding_texts(e)) for e in entries)
    assert (report.entries, report.vectors, report.embedded, report.reused) == (8, expected_rows, expected_rows, 0)
    stored = read_index(tmp_path / "index", expected_model=encoder.name)
    assert {row.field for row in stored.rows} == {
        "term",
        "definition",
        "plain_english",
        "analogy",
        "example",
        "usage",
        "misconceptions",
        "described_as",
    }
    assert stored.manifest.entries == 8 and stored.vectors.ntotal == expected_rows
    assert [e.id for e in stored.entries] == [e.id for e in entries]


def test_build_keeps_the_token_vectors_of_names_definitions_and_descriptions(tmp_path: Path) -> None:
    """Names and definition always; the everyday descriptions, or the plain English of an entry without."""
    source = tmp_path / "glossary.jsonl"
    entries = load_glossary(MINI)
    undescribed = entries[0].model_copy(update={"described_as": ()})
    source.write_text(
        "".join(e.model_dump_json(exclude_defaults=True) + "\n" for e in [undescribed, *entries[1:]]), "utf-8"
    )
    encoder = FakeEncoder()
    report = build(tmp_path / "index", encoder, source)
    stored = read_index(tmp_path / "index")
    assert stored.tokens is not None and stored.manifest.tokens is not None
    store = stored.tokens
    kept_fields = {
        (row.entry_id == undescribed.id, row.field) for n, row in enumerate(stored.rows) if len(store.row(n))
    }
    assert kept_fields == {
        (True, "term"),
        (True, "definition"),
        (True, "plain_english"),
        (False, "term"),
        (False, "definition"),
        (False, "described_as"),
    }
    assert report.tokens == stored.manifest.tokens.count == len(stored.tokens.vectors) > 0
    texts = {(e.id, field): text for e in stored.entries for field, text in embedding_texts(e)}
    by_id = {e.id: e for e in stored.entries}
    for number, row in enumerate(stored.rows):
        kept = stored.tokens.row(number)
        if not stores_field(by_id[row.entry_id], row.field):
            assert len(kept) == 0, row
            continue
        _, expected = encoder._tokens(texts[(row.entry_id, row.field)])  # the fake keeps every word
        assert np.array_equal(kept, expected.astype(np.float16)), row


def test_a_large_or_approximate_index_keeps_no_token_store_and_gains_one_when_exact(tmp_path: Path) -> None:
    report = build(tmp_path / "index", FakeEncoder(), vector_index="hnsw")
    assert report.tokens == 0 and read_index(tmp_path / "index").tokens is None
    encoder = FakeEncoder()
    report = build(tmp_path / "index", encoder, vector_index="flat")
    stored = read_index(tmp_path / "index")
    assert stored.tokens is not None and report.tokens == len(stored.tokens.vectors)
    # Only the texts whose tokens the store keeps are embedded again; the other rows are reused.
    kept = {text for e in stored.entries for field, text in embedding_texts(e) if stores_field(e, field)}
    assert sorted(encoder.calls) == sorted(kept)


def test_unchanged_corpus_embeds_nothing_and_keeps_files(tmp_path: Path) -> None:
    build(tmp_path / "index", FakeEncoder())
    before = files_of(tmp_path / "index")
    again = FakeEncoder()
    report = build(tmp_path / "index", again)
    assert report.up_to_date and again.calls == []
    assert files_of(tmp_path / "index") == before


def test_editing_one_entry_reembeds_only_that_entry(tmp_path: Path) -> None:
    build(tmp_path / "index", FakeEncoder())
    previous = read_index(tmp_path / "index")
    first, first_tokens = previous.row_vectors(), previous.tokens
    edited = tmp_path / "edited.yaml"
    edited.write_text(MINI.read_text().replace("A regularisation method that", "A regularization technique that"))
    encoder = FakeEncoder()
    report = build(tmp_path / "index", encoder, edited)
    dropout = next(e for e in load_glossary(edited) if e.id == "dropout")
    assert sorted(encoder.calls) == sorted(text for _, text in embedding_texts(dropout))
    assert report.embedded == len(encoder.calls) and report.reused == report.vectors - report.embedded
    stored = read_index(tmp_path / "index")
    unchanged = [i for i, row in enumerate(stored.rows) if row.entry_id != "dropout"]
    assert (stored.row_vectors()[unchanged] == first[unchanged]).all()
    assert stored.tokens is not None and first_tokens is not None
    for row in unchanged:  # their token vectors were copied from the previous index
        assert np.array_equal(stored.tokens.row(row), first_tokens.row(row))


def test_editing_only_related_rewrites_without_embedding(tmp_path: Path) -> None:
    build(tmp_path / "index", FakeEncoder())
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        MINI.read_text().replace("related: [overfitting, training, backpropagation]", "related: [training]")
    )
    encoder = FakeEncoder()
    report = build(tmp_path / "index", encoder, edited)
    assert not report.up_to_date and encoder.calls == []
    assert next(e for e in read_index(tmp_path / "index").entries if e.id == "dropout").related == ("training",)


def test_failure_while_embedding_leaves_previous_index_intact(tmp_path: Path) -> None:
    build(tmp_path / "index", FakeEncoder())
    before = files_of(tmp_path / "index")
    edited = tmp_path / "edited.yaml"
    edited.write_text(MINI.read_text().replace("Dropout", "Drop-out"))
    with pytest.raises(RuntimeError, match="simulated failure"):
        build(tmp_path / "index", FakeEncoder(fail_after=2), edited)
    assert files_of(tmp_path / "index") == before
    assert no_temporary_files(tmp_path)


def test_failure_before_commit_leaves_previous_index_intact(tmp_path: Path) -> None:
    build(tmp_path / "index", FakeEncoder())
    before = files_of(tmp_path / "index")
    edited = tmp_path / "edited.yaml"
    edited.write_text(MINI.read_text().replace("Dropout", "Drop-out"))

    def crash(tmp: Path) -> None:
        assert (tmp / MANIFEST).is_file()  # everything was written...
        raise KeyboardInterrupt  # ...and then the process is interrupted

    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "index", FakeEncoder(), edited, before_commit=crash)
    assert files_of(tmp_path / "index") == before
    assert no_temporary_files(tmp_path)


def test_missing_index_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match=r"no index at .*; build one with: glossary index --out"):
        read_index(tmp_path / "nowhere")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    build(tmp_path / "index", FakeEncoder())
    return tmp_path / "index"


def test_truncated_file_is_refused(built: Path) -> None:
    data = (built / VECTORS).read_bytes()
    (built / VECTORS).write_bytes(data[: len(data) // 2])
    with pytest.raises(
        IndexDamagedError, match=r"vectors.faiss .* does not match its checksum .*rebuild it with: glossary index"
    ):
        read_index(built)


def test_changed_entries_file_is_refused(built: Path) -> None:
    path = built / "entries.json"
    path.write_text(path.read_text().replace("Inference", "Inferenze"))
    with pytest.raises(IndexDamagedError, match=r"entries\.json"):
        read_index(built)


def test_missing_file_is_refused(built: Path) -> None:
    shutil.rmtree(built / "lexical")
    with pytest.raises(IndexDamagedError, match=r"lacks lexical/"):
        read_index(built)


def test_damaged_manifest_is_refused(built: Path) -> None:
    (built / MANIFEST).write_text("{not json")
    with pytest.raises(IndexDamagedError, match="manifest"):
        read_index(built)


def test_other_format_version_is_refused(built: Path) -> None:
    manifest = json.loads((built / MANIFEST).read_text())
    manifest["format_version"] = 99
    (built / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexVersionError, match="format version 99, this program reads version 1"):
        read_index(built)


def test_other_model_is_refused(built: Path) -> None:
    with pytest.raises(IndexVersionError, match="built with the model 'fake-encoder', not 'other'"):
        read_index(built, expected_model="other")


def test_rebuild_with_other_model_embeds_everything(built: Path) -> None:
    class Other(FakeEncoder):
        name = "other-fake"

    encoder = Other()
    report = build(built, encoder)
    assert report.reused == 0 and report.embedded == report.vectors
