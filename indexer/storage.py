"""The on-disk index format. The indexer is its only writer; the searcher reads it.

An index is one directory:

    manifest.json   format version, model, dimension, fields, fingerprints, counts,
                    build time, and the SHA-256 of every other file
    vectors.faiss   FAISS inner-product index, one row per embedded field text: exact (flat),
                    or HNSW from indexer.vector_index.APPROXIMATE_FROM vectors on
    rows.json       row -> [entry id, field]
    entries.json    the validated entries
    lexical/        the bm25s index over one document per entry
    tokens.npy, token_offsets.npy
                    the token store, on glossary-sized indexes only (indexer.tokens)

`indexer.publish` puts it in place: each build is a versioned directory, and the index
path is a symlink switched to the new one in one atomic step, so a reader never sees a
half-written index and a killed build leaves the previous one in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np
from pydantic import BaseModel, Field, ValidationError

from indexer.encoder import Vectors
from indexer.errors import IndexDamagedError, IndexMissingError, IndexVersionError, IndexWriteError
from indexer.publish import build_lock, checkpoint, publish, staging_dir
from indexer.schema import Entry
from indexer.tokens import TOKEN_FIELDS, TokenStore
from indexer.vector_index import VectorIndexChoice, VectorIndexInfo, build_vector_index
from indexer.vectorfile import VectorFile

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
ROWS = "rows.json"
ENTRIES = "entries.json"
LEXICAL = "lexical"


class TokenInfo(BaseModel):
    """The token store of an index (indexer.tokens): the fields whose rows it covers, and its size."""

    fields: list[str]
    count: int
    dtype: str = "float16"


class Manifest(BaseModel):
    """What an index says about how it was built."""

    format_version: int
    model: str
    dimension: int
    fields: list[str]
    corpus_fingerprint: str
    entry_fingerprints: dict[str, str]
    entries: int
    vectors: int
    built_at: str
    build_seconds: float
    source: str
    checksums: dict[str, str]
    # The model that embeds queries, when it is not `model`: the same base with a query-side
    # adapter (`glossary tune`), whose checksum the name carries. Indexes written before it have none.
    query_model: str | None = None

    @property
    def query_model_name(self) -> str:
        """The model a query must be embedded with to be compared with this index's vectors."""
        return self.query_model or self.model

    # Added with the HNSW index; a manifest without it describes a flat index (the format is unchanged).
    vector_index: VectorIndexInfo = Field(default_factory=VectorIndexInfo)
    # Added with late interaction: what the token store holds, or None for an index without one.
    tokens: TokenInfo | None = None


@dataclass(frozen=True)
class Row:
    """One vector of the index: which entry and which field it embeds."""

    entry_id: str
    field: str


@dataclass
class StoredIndex:
    """Everything an index directory holds, loaded and verified."""

    manifest: Manifest
    entries: list[Entry]
    rows: list[Row]
    vectors: faiss.Index
    lexical: bm25s.BM25
    location: Path | None = None  # the directory actually read (a symlinked index path resolved)
    tokens: TokenStore | None = None  # the token store, on glossary-sized indexes

    def row_vectors(self) -> Vectors:
        """All stored vectors, in row order."""
        return np.asarray(self.vectors.reconstruct_n(0, self.vectors.ntotal), dtype=np.float32)


def rebuild_hint(path: Path, source: str | None = None) -> str:
    """How to rebuild the index at `path`, from the glossary it was built from when that is known."""
    if source:
        return f"rebuild it with: glossary index {shlex.quote(source)} --out {shlex.quote(str(path))}"
    return f"rebuild it with: glossary index SOURCE --out {shlex.quote(str(path))} (SOURCE: the glossary it indexed)"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_index(
    path: Path,
    manifest_fields: dict[str, Any],
    entries: list[Entry],
    rows: list[Row],
    vectors: Vectors | VectorFile,
    lexical: bm25s.BM25,
    before_commit: Callable[[Path], None] | None = None,
    vector_index: VectorIndexChoice = "auto",
    tokens: TokenStore | None = None,
) -> Manifest:
    """Write a complete index and publish it at `path` in one atomic step; return its manifest.

    `before_commit` is called with the temporary directory once every file is written
    and before it is published (tests use it to fail at the last moment). `vector_index`
    chooses the FAISS index: exact, HNSW, or by size (`indexer.vector_index`). `tokens`: the
    token store, if the index keeps one.
    """
    path = Path(os.path.abspath(path))
    with build_lock(path), staging_dir(path) as tmp:
        try:
            manifest = _write_files(tmp, manifest_fields, entries, rows, vectors, lexical, vector_index, tokens)
        except OSError as exc:
            raise IndexWriteError(f"cannot write the index at {path}: {exc.strerror or exc}") from exc
        checkpoint("files-written")
        if before_commit is not None:
            before_commit(tmp)
        publish(tmp, path)
    return manifest


def _write_files(
    tmp: Path,
    manifest_fields: dict[str, Any],
    entries: list[Entry],
    rows: list[Row],
    vectors: Vectors | VectorFile,
    lexical: bm25s.BM25,
    vector_index: VectorIndexChoice = "auto",
    tokens: TokenStore | None = None,
) -> Manifest:
    index, vector_info = build_vector_index(vectors, vector_index)  # read a block at a time: one copy in memory
    faiss.write_index(index, str(tmp / VECTORS))
    del index
    _write_json(tmp / ROWS, [[row.entry_id, row.field] for row in rows])
    _write_json(tmp / ENTRIES, [entry.model_dump(mode="json") for entry in entries])
    lexical.save(str(tmp / LEXICAL), show_progress=False)
    token_info = None
    if tokens is not None:
        tokens.write(tmp)
        token_info = TokenInfo(fields=list(TOKEN_FIELDS), count=len(tokens.vectors))
    checksums = {str(file.relative_to(tmp)): sha256_file(file) for file in sorted(tmp.rglob("*")) if file.is_file()}
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        checksums=checksums,
        vector_index=vector_info,
        tokens=token_info,
        **manifest_fields,
    )
    _write_json(tmp / MANIFEST, manifest.model_dump(mode="json"))
    for file in tmp.rglob("*"):
        if file.is_file():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        checkpoint("fsync")
    return manifest


def _write_json(path: Path, data: object) -> None:
    """Written as it is encoded: a big glossary's entries never exist as one string in memory."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)


def read_manifest(path: Path) -> Manifest:
    """The manifest of an index, or an error that says how to rebuild it."""
    file = path / MANIFEST
    if not path.is_dir() or not file.is_file():
        raise IndexMissingError(f"no index at {path}; build one with: glossary index --out {path}")
    try:
        manifest = Manifest.model_validate_json(file.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise IndexDamagedError(
            f"the manifest of {path} is damaged ({exc.__class__.__name__}); {rebuild_hint(path)}"
        ) from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexVersionError(
            f"the index at {path} has format version {manifest.format_version}, "
            f"this program reads version {FORMAT_VERSION}; {rebuild_hint(path, manifest.source)}"
        )
    return manifest


def read_index(path: Path, expected_model: str | None = None) -> StoredIndex:
    """Load and verify an index: format version, model, and every file's checksum.

    A symlinked index path is resolved once, so that every file comes from the same build
    even when a new build is published meanwhile.
    """
    path = Path(path)
    location = Path(os.path.realpath(path))
    manifest = read_manifest(location if location.is_dir() else path)
    hint = rebuild_hint(path, manifest.source)
    if expected_model is not None and manifest.model != expected_model:
        raise IndexVersionError(
            f"the index at {path} was built with the model {manifest.model!r}, not {expected_model!r}; {hint}"
        )
    for name, checksum in manifest.checksums.items():
        file = location / name
        if not file.is_file():
            raise IndexDamagedError(f"the index at {path} lacks {name}; {hint}")
        if sha256_file(file) != checksum:
            raise IndexDamagedError(
                f"{name} in the index at {path} does not match its checksum (truncated or changed); {hint}"
            )
    try:
        return _read_files(location, manifest)
    except (OSError, ValueError, RuntimeError, ValidationError) as exc:
        raise IndexDamagedError(f"the index at {path} cannot be read ({exc}); {hint}") from exc


def _read_files(path: Path, manifest: Manifest) -> StoredIndex:
    entries = [Entry.model_validate(item) for item in json.loads((path / ENTRIES).read_text("utf-8"))]
    rows = [Row(entry_id, field) for entry_id, field in json.loads((path / ROWS).read_text("utf-8"))]
    vectors = faiss.read_index(str(path / VECTORS))
    lexical = bm25s.BM25.load(str(path / LEXICAL), show_progress=False, verbosity=0)
    if vectors.ntotal != len(rows) or vectors.d != manifest.dimension or len(entries) != manifest.entries:
        raise ValueError("the files disagree with the manifest about their sizes")
    tokens = None
    if manifest.tokens is not None:
        tokens = TokenStore.read(path, len(rows), manifest.dimension)
        if len(tokens.vectors) != manifest.tokens.count:
            raise ValueError("the token store disagrees with the manifest about its size")
    return StoredIndex(manifest, entries, rows, vectors, lexical, path, tokens)
