"""Build an index directory from a glossary, re-embedding only what changed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer.encoder import Encoder, Vectors
from indexer.errors import UnusableIndexError
from indexer.lexical import build_lexical
from indexer.model_spec import canonical_model
from indexer.publish import prepare_output
from indexer.schema import Entry
from indexer.storage import Row, StoredIndex, read_index, write_index
from indexer.texts import EMBEDDED_FIELDS, embedding_texts
from indexer.vector_index import VectorIndexChoice, VectorIndexInfo, resolve

ProgressStart = Callable[[int], Callable[[int], None]]


@dataclass(frozen=True)
class BuildReport:
    """What one `index` run did."""

    path: Path
    entries: int
    vectors: int
    embedded: int
    reused: int
    seconds: float
    up_to_date: bool
    vector_index: VectorIndexInfo = dataclasses.field(default_factory=VectorIndexInfo)


def entry_fingerprint(entry: Entry, model: str) -> str:
    """Changes exactly when the texts embedded for this entry (or the model) change."""
    payload = json.dumps([model, embedding_texts(entry)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def corpus_fingerprint(entries: list[Entry]) -> str:
    """Changes when any field of any entry changes."""
    payload = json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _previous(out: Path, model: str) -> StoredIndex | None:
    """The index already at `out`, when it is readable and made with the same model."""
    try:
        return read_index(out, expected_model=model)
    except UnusableIndexError:
        return None


def build_index(
    entries: list[Entry],
    out: Path,
    model: str,
    encoder: Callable[[], Encoder],
    source: str = "",
    progress: ProgressStart | None = None,
    before_commit: Callable[[Path], None] | None = None,
    query_model: str | None = None,
    vector_index: VectorIndexChoice = "auto",
) -> BuildReport:
    """Write the index of `entries` to `out`; the encoder is loaded only if something must be embedded.

    `query_model` names the model that will embed queries, when it is not `model` (the same base
    model with a query-side adapter); the manifest records it with the adapter's checksum.
    `vector_index` chooses the FAISS index (exact, HNSW, or by size: `indexer.vector_index`); an
    index of another kind than the one chosen is rewritten, its vectors reused.
    """
    started = time.perf_counter()
    model = canonical_model(model)  # an adapter's checksum is part of the model's name
    query = canonical_model(query_model) if query_model is not None else None
    query = None if query == model else query  # recorded only when it differs
    prepare_output(out)  # writable? (one-line error before any embedding) and what killed builds left, removed
    previous = _previous(out, model)
    fingerprint = corpus_fingerprint(entries)
    if (
        previous is not None
        and previous.manifest.corpus_fingerprint == fingerprint
        and previous.manifest.query_model == query
        and previous.manifest.vector_index.kind == resolve(vector_index, previous.manifest.vectors)
    ):
        count, info = previous.manifest.vectors, previous.manifest.vector_index
        return BuildReport(out, len(entries), count, 0, count, time.perf_counter() - started, True, info)

    rows: list[Row] = []
    texts: list[str] = []
    reuse: dict[int, int] = {}  # new row -> previous row
    prints = {e.id: entry_fingerprint(e, model) for e in entries}
    old_rows = _reusable_rows(previous, prints)
    for entry in entries:
        for field, text in embedding_texts(entry):
            old = old_rows.get((entry.id, field))
            if old is None:
                texts.append(text)
            else:
                reuse[len(rows)] = old
            rows.append(Row(entry.id, field))

    fresh = _embed(texts, encoder, progress)
    vectors = _assemble(len(rows), fresh, reuse, previous)
    manifest_fields = {
        "model": model,
        "dimension": int(vectors.shape[1]),
        "fields": list(EMBEDDED_FIELDS),
        "corpus_fingerprint": fingerprint,
        "entry_fingerprints": prints,
        "entries": len(entries),
        "vectors": len(rows),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 3),
        "source": source,
        "query_model": query,
    }
    manifest = write_index(
        out, manifest_fields, entries, rows, vectors, build_lexical(entries), before_commit, vector_index
    )
    seconds = time.perf_counter() - started
    return BuildReport(out, len(entries), len(rows), len(texts), len(reuse), seconds, False, manifest.vector_index)


def _reusable_rows(previous: StoredIndex | None, prints: dict[str, str]) -> dict[tuple[str, str], int]:
    """(entry id, field) -> previous row, for entries whose embedded texts did not change."""
    if previous is None:
        return {}
    old_prints = previous.manifest.entry_fingerprints
    unchanged = {entry_id for entry_id, value in prints.items() if old_prints.get(entry_id) == value}
    return {(row.entry_id, row.field): number for number, row in enumerate(previous.rows) if row.entry_id in unchanged}


def _embed(texts: list[str], encoder: Callable[[], Encoder], progress: ProgressStart | None) -> Vectors | None:
    """The vector of every text; a text that occurs several times (a term shared by senses) is embedded once."""
    if not texts:
        return None
    model = encoder()
    unique = list(dict.fromkeys(texts))
    advance = progress(len(unique)) if progress is not None else None
    vectors = model.encode(unique, advance)
    if len(unique) == len(texts):
        return vectors
    where = {text: row for row, text in enumerate(unique)}
    return vectors[[where[text] for text in texts]]


def _assemble(total: int, fresh: Vectors | None, reuse: dict[int, int], previous: StoredIndex | None) -> Vectors:
    old = previous.row_vectors() if previous is not None and reuse else None
    dimension = fresh.shape[1] if fresh is not None else old.shape[1] if old is not None else 0
    if dimension == 0:
        raise ValueError("the glossary has no entries to index")
    vectors = np.zeros((total, dimension), dtype=np.float32)
    fresh_rows = [row for row in range(total) if row not in reuse]
    if fresh is not None:
        vectors[fresh_rows] = fresh
    if old is not None:
        vectors[list(reuse)] = old[list(reuse.values())]
    return vectors
