"""Build an index directory from a glossary, re-embedding only what changed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer.checkpoints import ChunkStore, embeddings_dir, remove_checkpoints, text_digest
from indexer.encoder import CHUNK_SIZE, Encoder, Vectors, length_order
from indexer.errors import UnusableIndexError
from indexer.lexical import build_lexical
from indexer.model_spec import canonical_model
from indexer.publish import checkpoint, prepare_output
from indexer.schema import Entry
from indexer.storage import Row, StoredIndex, read_index, write_index
from indexer.texts import EMBEDDED_FIELDS, embedding_texts
from indexer.tokens import (
    TOKEN_FIELDS,
    StoredTokens,
    TokenStore,
    content_only,
    content_tokens,
    stores_field,
    wants_tokens,
)
from indexer.vector_index import VectorIndexChoice, VectorIndexInfo, resolve
from indexer.vectorfile import BLOCK_ROWS, VectorFile

# Called once, before embedding, with the cost of each text to embed in the order they are embedded;
# returns the callback that is told how many more texts were embedded (after each batch).
ProgressStart = Callable[[Sequence[int]], Callable[[int], None]]
TEXT_OVERHEAD = 24  # the cost of a text beyond its length (in characters): tokenizing, special tokens, pooling


@dataclass(frozen=True)
class BuildReport:
    """What one `index` run did: `embedded` texts (each distinct text once), `reused` rows of the previous index."""

    path: Path
    entries: int
    vectors: int
    embedded: int
    reused: int
    seconds: float
    up_to_date: bool
    vector_index: VectorIndexInfo = dataclasses.field(default_factory=VectorIndexInfo)
    resumed: int = 0  # texts whose vectors came from the checkpoints of an interrupted build
    tokens: int = 0  # token vectors in the index's token store (0: the index has none)


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
    *,
    resume: bool = True,
    chunk_size: int = CHUNK_SIZE,
    status: Callable[[str], None] | None = None,
) -> BuildReport:
    """Write the index of `entries` to `out`; the encoder is loaded only if something must be embedded.

    `query_model` names the model that will embed queries, when it is not `model` (the same base
    model with a query-side adapter); the manifest records it with the adapter's checksum.
    `vector_index` chooses the FAISS index (exact, HNSW, or by size: `indexer.vector_index`); an
    index of another kind than the one chosen is rewritten, its vectors reused.
    A glossary-sized index with an exact vector index also keeps the token vectors of the rows that
    `indexer.tokens.stores_field` names (names, definition, descriptions), from the same forward pass.
    Embedded chunks of `chunk_size` texts are checkpointed beside `out` (see indexer.checkpoints):
    with `resume`, a build killed before publishing continues where it stopped; without, it starts over.
    `status` is told what the build is doing between the stretches of embedding that `progress` shows.
    """
    started = time.perf_counter()
    say = status or (lambda _: None)
    model = canonical_model(model)  # an adapter's checksum is part of the model's name
    query = canonical_model(query_model) if query_model is not None else None
    query = None if query == model else query  # recorded only when it differs
    prepare_output(out)  # writable? (one-line error before any embedding) and what killed builds left, removed
    if not resume:
        remove_checkpoints(out)
    previous = _previous(out, model)
    fingerprint = corpus_fingerprint(entries)
    texts_of = [(entry, embedding_texts(entry)) for entry in entries]
    kind = resolve(vector_index, sum(len(texts) for _, texts in texts_of))
    keep_tokens = wants_tokens(len(entries), kind)
    if (
        previous is not None
        and previous.manifest.corpus_fingerprint == fingerprint
        and previous.manifest.query_model == query
        and previous.manifest.vector_index.kind == kind
        and _stored_fields(previous) == (list(TOKEN_FIELDS) if keep_tokens else None)
    ):
        remove_checkpoints(out)  # left by a build killed after it published
        count, info = previous.manifest.vectors, previous.manifest.vector_index
        stored = len(previous.tokens.vectors) if previous.tokens is not None else 0
        return BuildReport(out, len(entries), count, 0, count, time.perf_counter() - started, True, info, 0, stored)

    rows: list[Row] = []
    pending: dict[str, list[int]] = {}  # text to embed -> the rows that hold its vector
    reuse: dict[int, int] = {}  # new row -> previous row
    needs_tokens: set[str] = set()  # texts to embed whose token vectors the store keeps
    prints = {e.id: entry_fingerprint(e, model) for e in entries}
    old_rows = _reusable_rows(previous, prints)
    old_tokens = previous.tokens if previous is not None else None
    stored_rows: set[int] = set()  # the rows whose token vectors the store keeps
    for entry, texts in texts_of:
        for field, text in texts:
            old = old_rows.get((entry.id, field))
            stored = keep_tokens and stores_field(entry, field)
            if stored:
                stored_rows.add(len(rows))
            if old is not None and stored and (old_tokens is None or len(old_tokens.row(old)) == 0):
                old = None  # the previous index kept no tokens for it: embed it again, for them
            if old is None:
                pending.setdefault(text, []).append(len(rows))
                if stored:
                    needs_tokens.add(text)
            else:
                reuse[len(rows)] = old
            rows.append(Row(entry.id, field))
    if not rows:
        raise ValueError("the glossary has no entries to index")

    model_encoder = encoder() if pending else None
    dimension = model_encoder.dimension if model_encoder is not None else previous.manifest.dimension  # type: ignore[union-attr]
    embeddings_dir(out).mkdir(parents=True, exist_ok=True)
    row_tokens: dict[int, StoredTokens] = {}  # the stored token vectors of each row that has some
    with VectorFile(len(rows), dimension, embeddings_dir(out)) as vectors:
        if reuse:
            _copy_reused(previous, reuse, vectors)
            if keep_tokens and old_tokens is not None:
                for new, old in reuse.items():
                    if new in stored_rows:
                        row_tokens[new] = np.array(old_tokens.row(old))
        previous = old_tokens = None  # on disk or copied now: never two copies of the index in memory
        embedded = resumed = 0
        if model_encoder is not None:
            store = ChunkStore(out, model, model_encoder.runtime)
            embedding = _Embedding(pending, needs_tokens, model_encoder, store, vectors)
            embedded, resumed = embedding.run(chunk_size, progress, say)
            for text, text_rows in pending.items():
                text_tokens = embedding.tokens.get(text)
                if text_tokens is None:
                    continue
                for row in text_rows:
                    if row in stored_rows:
                        row_tokens[row] = text_tokens
        tokens = TokenStore.assemble(len(rows), dimension, row_tokens) if keep_tokens else None
        row_tokens.clear()
        say(f"writing the index ({len(rows):,} vectors)")
        manifest_fields = {
            "model": model,
            "dimension": dimension,
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
        lexical = build_lexical(entries)
        manifest = write_index(
            out, manifest_fields, entries, rows, vectors, lexical, before_commit, vector_index, tokens
        )
    remove_checkpoints(out)
    seconds = time.perf_counter() - started
    stored = len(tokens.vectors) if tokens is not None else 0
    return BuildReport(
        out, len(entries), len(rows), embedded, len(reuse), seconds, False, manifest.vector_index, resumed, stored
    )


def _stored_fields(index: StoredIndex) -> list[str] | None:
    """The fields whose token vectors an index stores, or None when it has no token store."""
    info = index.manifest.tokens
    return None if index.tokens is None or info is None else list(info.fields)


def _reusable_rows(previous: StoredIndex | None, prints: dict[str, str]) -> dict[tuple[str, str], int]:
    """(entry id, field) -> previous row, for entries whose embedded texts did not change."""
    if previous is None:
        return {}
    old_prints = previous.manifest.entry_fingerprints
    unchanged = {entry_id for entry_id, value in prints.items() if old_prints.get(entry_id) == value}
    return {(row.entry_id, row.field): number for number, row in enumerate(previous.rows) if row.entry_id in unchanged}


def _copy_reused(previous: StoredIndex | None, reuse: dict[int, int], vectors: VectorFile) -> None:
    """The vectors of unchanged entries, from the previous index to their new rows, a block at a time."""
    assert previous is not None
    new_rows = np.fromiter(reuse.keys(), dtype=np.int64, count=len(reuse))
    old_rows = np.fromiter(reuse.values(), dtype=np.int64, count=len(reuse))
    for start in range(0, len(reuse), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        vectors.write(new_rows[block], previous.vectors.reconstruct_batch(old_rows[block]))


class _Embedding:
    """Puts the vector of every pending text into its rows, and keeps the token vectors the store needs."""

    def __init__(
        self,
        pending: dict[str, list[int]],
        needs_tokens: set[str],
        encoder: Encoder,
        store: ChunkStore,
        vectors: VectorFile,
    ) -> None:
        self.pending = pending
        self.needs_tokens = needs_tokens
        self.encoder = encoder
        self.store = store
        self.vectors = vectors
        self.tokens: dict[str, StoredTokens] = {}  # text -> its stored token vectors

    def run(self, chunk_size: int, progress: ProgressStart | None, say: Callable[[str], None]) -> tuple[int, int]:
        """Embed every pending text; return (texts embedded, texts resumed).

        A text that occurs several times (a term shared by senses) is embedded once. The texts are
        sorted by length, so that each batch pads little, and embedded in chunks, each checkpointed
        before the next begins. A resumed build takes the texts found in the checkpoints from there
        (with their token vectors, when the store needs them); the rest, sorted the same way, falls
        into the same chunks that an uninterrupted build embeds.
        """
        pending = self.pending
        digests = {text: text_digest(text) for text in pending}
        remaining = dict(digests)  # text -> digest, for the texts still without a vector
        by_digest = {digest: text for text, digest in digests.items()}
        for chunk_digests, chunk_vectors, chunk_tokens in self.store.chunks():
            found = []
            for row, digest in enumerate(chunk_digests):
                text = by_digest.get(bytes(digest))
                if text is None or text not in remaining:
                    continue
                if text in self.needs_tokens:
                    if chunk_tokens is None or chunk_tokens[row] is None:
                        continue  # checkpointed without its tokens: embedded again
                    self.tokens[text] = chunk_tokens[row]  # type: ignore[assignment]
                found.append((row, text))
            if found:
                _put(self.vectors, pending, [text for _, text in found], chunk_vectors[[row for row, _ in found]])
                for _, text in found:
                    del remaining[text]
        resumed = len(pending) - len(remaining)
        if resumed:
            say(f"resuming: {resumed:,} of {len(pending):,} texts were embedded by an interrupted build")
        texts = [text for text in remaining]
        texts = [texts[row] for row in length_order(texts)]
        advance = progress([len(text) + TEXT_OVERHEAD for text in texts]) if progress is not None and texts else None
        keep = content_tokens(self.encoder.vocabulary()) if self.needs_tokens else None
        for number, start in enumerate(range(0, len(texts), chunk_size), start=1):
            chunk = texts[start : start + chunk_size]
            stored: list[StoredTokens | None] | None = None
            if keep is not None and any(text in self.needs_tokens for text in chunk):
                chunk_vectors, embedded_tokens = self.encoder.encode_tokens(chunk, advance)
                stored = [
                    content_only(ids, token_vectors, keep).astype(np.float16) if text in self.needs_tokens else None
                    for text, (ids, token_vectors) in zip(chunk, embedded_tokens, strict=True)
                ]
                del embedded_tokens
            else:
                chunk_vectors = self.encoder.encode(chunk, advance)
            checkpoint(f"embedded-chunk-{number}")
            self.store.save([remaining[text] for text in chunk], chunk_vectors, stored)
            checkpoint(f"saved-chunk-{number}")
            _put(self.vectors, pending, chunk, chunk_vectors)
            for text, kept_tokens in zip(chunk, stored or (), strict=False):
                if kept_tokens is not None:
                    self.tokens[text] = kept_tokens
        return len(texts), resumed


def _put(vectors: VectorFile, pending: dict[str, list[int]], texts: list[str], embedded: Vectors) -> None:
    """Write each text's vector into every row that holds it."""
    counts = [len(pending[text]) for text in texts]
    rows = [row for text in texts for row in pending[text]]
    vectors.write(rows, np.repeat(embedded, counts, axis=0))
