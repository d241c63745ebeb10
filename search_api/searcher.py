"""Answering queries from an index: dense + lexical + name matching, fused."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import bm25s
import faiss
import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from indexer.encoder import Encoder, Tokens, Vectors
from indexer.errors import IndexVersionError, QueryError
from indexer.lexical import build_names_lexical, tokenize
from indexer.onnx_encoder import DEFAULT_QUERY_ENCODER, load_runtime_encoder
from indexer.schema import Entry
from indexer.storage import StoredIndex, read_index, rebuild_hint
from indexer.texts import field_text
from indexer.tokens import content_tokens
from indexer.vector_index import HNSW_EF_SEARCH, stored_vectors
from search_api.features import FieldRows, feature_matrix, name_columns
from search_api.fusion import FusionWeights, Scores, fuse, has_descriptions, max_idf, saturate, visible
from search_api.hits import Answer, Hit
from search_api.late import LateInteraction
from search_api.names import NameIndex, NameMatch
from search_api.querytext import is_blank, strip_blank
from search_api.snippets import shorten, snippet

MAX_QUERY_CHARS = 500
MAX_K = 50
GROUPINGS = ("term",)
MAX_SENSES = MAX_K  # senses attached to one grouped hit at most
# Up to this many entries (with an exact index) every entry is scored; above it, or with an
# approximate index, only candidates are: the entries of the nearest rows, the best BM25
# entries, and the entries whose names match. Each candidate's fields are scored exactly.
RANK_ALL_UP_TO = 50_000
DENSE_CANDIDATES = 256  # nearest rows (field vectors) asked of the vector index
LEXICAL_CANDIDATES = 100  # best BM25 entries


@dataclass(frozen=True)
class Signals:
    """Each signal's score for the entries scored (arrays indexed like `positions`), and the fused features.

    `positions` are entry positions in glossary order: every entry, or on a large index the candidates.
    """

    dense: Scores
    best_row: npt.NDArray[np.int64]  # the row of each entry's best-matching field
    lexical: Scores  # BM25, raw
    name: Scores  # the entry's best name match, 0 to 1
    matches: dict[str, NameMatch]
    features: Scores  # (entries, len(FEATURES))
    positions: npt.NDArray[np.int64]
    read: str  # the query as ranked: each slip read as the name's word (`NameIndex.corrected`)


class Searcher:
    """Loads an index once and answers queries against it.

    >>> searcher = Searcher.load(".index")               # doctest: +SKIP
    >>> searcher.search("a program that chats with customers on a website", k=3)[0].term
    'chatbot'
    """

    def __init__(
        self,
        index: StoredIndex,
        encoder: Encoder,
        weights: FusionWeights | None = None,
        rank_all: bool | None = None,
    ) -> None:
        """`rank_all`: score every entry (True), only candidates (False), or by size and index kind (None).

        `weights`: the fusion weights; by default the learned ones for this index, with or without
        late interaction. Late interaction runs when the index has a token store and its queries are
        embedded with the model that embedded it (no query adapter).
        """
        self.index = index
        self.encoder = encoder
        self.entries: list[Entry] = index.entries
        self.by_id = {entry.id: entry for entry in self.entries}
        self._position = {entry.id: i for i, entry in enumerate(self.entries)}
        self.late: LateInteraction | None = None
        if index.tokens is not None and index.manifest.query_model is None:
            content = content_tokens(encoder.vocabulary())
            self.late = LateInteraction(index.tokens, index.rows, self._position, content)
        self.described = has_descriptions(sum(bool(entry.described_as) for entry in self.entries), len(self.entries))
        self.weights = weights or FusionWeights.learned(tokens=self.late is not None, described=self.described)
        # chooses the entries late interaction scores
        self.candidate_weights = FusionWeights.learned(tokens=False, described=self.described)
        self._row_field = [row.field for row in index.rows]
        self._fields = FieldRows(index.rows, self._position)
        # One thread per process: a glossary-sized scan gains nothing from more, and on a busy machine
        # a multi-threaded BLAS product over 6,307 rows took 13 ms instead of 0.8 ms.
        faiss.omp_set_num_threads(1)
        threadpool_limits(limits=1, user_api="blas")
        self._matrix = stored_vectors(index.vectors)  # a view of FAISS's own buffer where it has one
        self.approximate = not isinstance(index.vectors, faiss.IndexFlat)
        if rank_all is None:
            rank_all = not self.approximate and len(self.entries) <= RANK_ALL_UP_TO
        self.rank_all = rank_all
        self.dense_candidates = DENSE_CANDIDATES
        if isinstance(index.vectors, faiss.IndexHNSW):
            index.vectors.hnsw.efSearch = index.manifest.vector_index.ef_search or HNSW_EF_SEARCH
        self.names = NameIndex(self.entries)
        self._names_lexical = build_names_lexical(self.entries)
        self.lexical_unit = max_idf(len(self.entries))
        self._term_key = [" ".join(entry.term.casefold().split()) for entry in self.entries]

    @classmethod
    def load(
        cls,
        path: str | Path,
        encoder: Encoder | None = None,
        weights: FusionWeights | None = None,
        threads: int | None = None,
        query_encoder: str = DEFAULT_QUERY_ENCODER,
        overrides: Mapping[str, float] | None = None,
    ) -> Searcher:
        """Read and verify the index at `path`; load its model (once per process) unless given an encoder.

        `query_encoder` is "onnx-int8" (ONNX Runtime on int8 weights: fastest, vectors within cosine 0.98),
        "onnx" (ONNX Runtime in full precision: the torch model's vectors) or "torch". `overrides`
        replace some of the fusion weights (FusionWeights.with_overrides).
        """
        index = read_index(Path(path))
        model = index.manifest.query_model_name
        if encoder is not None and encoder.name != model:
            raise IndexVersionError(
                f"the index at {path} is queried with the model {model!r}, not {encoder.name!r}; "
                f"{rebuild_hint(Path(path), index.manifest.source)}"
            )
        searcher = cls(index, encoder or load_runtime_encoder(model, threads, query_encoder), weights)
        if overrides:
            searcher.weights = searcher.weights.with_overrides(overrides)
        return searcher

    @property
    def model(self) -> str:
        """The model that embeds queries (the index's own, or the same base with a query adapter)."""
        return self.index.manifest.query_model_name

    def search(self, query: str, k: int = 10, group: str | None = None) -> list[Hit]:
        """The best `k` entries for a query, best first (may be fewer, or none).

        `group="term"`: the best `k` distinct terms, each hit carrying its term's other matching senses.
        """
        return self.answer(query, k, group=group).hits

    def answer(self, query: str, k: int = 10, weights: FusionWeights | None = None, group: str | None = None) -> Answer:
        """Hits plus a did-you-mean name and the time spent embedding and searching."""
        query = check_query(query, k, group)
        started = time.perf_counter()
        read = self.names.corrected(query)
        vector, tokens = self._encode([read], self.late is not None)
        embedded = time.perf_counter()
        hits, matches = self.rank(query, vector[0], k, weights or self.weights, group, tokens[0] if tokens else None)
        finished = time.perf_counter()
        return Answer(
            query=query,
            hits=hits,
            did_you_mean=self._did_you_mean(query, matches, bool(hits)),
            embed_ms=round((embedded - started) * 1000, 3),
            search_ms=round((finished - embedded) * 1000, 3),
            read_as=read if read != query else None,
        )

    def embed(self, queries: Sequence[str], with_tokens: bool | None = None) -> tuple[Vectors, list[Tokens]]:
        """The queries' vectors and token vectors, the queries read as the ranker reads them.

        A word that is a slip for a word of some name is read as that word (`NameIndex.corrected`:
        `how does gradient desent work` is embedded as `... descent ...`), so that the dense and
        late-interaction signals see the name the lexical ones see. Token vectors come from the
        same forward pass when `with_tokens` (by default: when the index has a token store), else
        the list is empty.
        """
        texts = [self.names.corrected(query) for query in queries]
        return self._encode(texts, self.late is not None if with_tokens is None else with_tokens)

    def _encode(self, read: Sequence[str], with_tokens: bool) -> tuple[Vectors, list[Tokens]]:
        """Queries already read (`NameIndex.corrected`), embedded: vectors, and token vectors or []."""
        if with_tokens:
            return self.encoder.encode_tokens(read)
        return self.encoder.encode(read), []

    def signals(self, query: str, vector: Scores, tokens: Tokens | None = None) -> Signals:
        """The scores under each signal for a query whose vector is already known.

        Every entry is scored (positions 0..n-1), or on a large or approximate index the candidates.
        With late interaction, the query's token vectors are embedded here unless `tokens` gives them.
        """
        read = self.names.corrected(query)
        found = (self._all_signals if self.rank_all else self._candidate_signals)(query, read, vector)
        if self.late is not None:
            if tokens is None:
                tokens = self._encode([read], with_tokens=True)[1][0]
            self.late.fill(found.features, tokens, found.positions, fuse(found.features, self.candidate_weights))
        return found

    def _all_signals(self, query: str, read: str, vector: Scores) -> Signals:
        """Signals of every entry (`read`: the query as ranked, which BM25 tokenizes)."""
        similarity = np.asarray(self._matrix @ vector, dtype=np.float32)
        dense, best_row = self._fields.dense(similarity)
        cosines, best = self._fields.cosines(similarity)
        matches = self.names.match(query)
        names = name_columns(matches, self._position, len(self.entries))
        tokens = list(tokenize(read))  # a misspelt name's words as the name's
        lexical = self._bm25(self.index.lexical, tokens)
        lexical_names = self._bm25(self._names_lexical, tokens)
        features = feature_matrix(dense, cosines, best, self._saturated(lexical), names, self._saturated(lexical_names))
        positions = np.arange(len(self.entries), dtype=np.int64)
        return Signals(dense, best_row, lexical, names.max(axis=1), matches, features, positions, read)

    def _candidate_signals(self, query: str, read: str, vector: Scores) -> Signals:
        """Signals of the candidate entries only: nearest rows' entries, best BM25 entries, name matches."""
        matches = self.names.match(query)
        tokens = list(tokenize(read))  # a misspelt name's words as the name's
        lexical_all = self._bm25(self.index.lexical, tokens)
        named = np.array([self._position[entry_id] for entry_id in matches], dtype=np.int64)
        nearest = self._fields.row_entry[self._nearest_rows(vector)]
        positions = np.unique(np.concatenate([nearest, _top(lexical_all, LEXICAL_CANDIDATES), named]))
        found = self._fields.of_entries(positions, self._matrix, vector)
        named_at = np.searchsorted(positions, named)  # every named entry is a candidate
        names = name_columns(matches, dict(zip(matches, named_at.tolist(), strict=True)), len(positions))
        lexical = lexical_all[positions]
        lexical_names = self._bm25(self._names_lexical, tokens, positions)
        features = feature_matrix(
            found.dense, found.cosines, found.best, self._saturated(lexical), names, self._saturated(lexical_names)
        )
        return Signals(found.dense, found.best_row, lexical, names.max(axis=1), matches, features, positions, read)

    def _nearest_rows(self, vector: Scores) -> npt.NDArray[np.int64]:
        """The rows most similar to the query: by the vector index, or by one product over a flat one."""
        count = min(self.dense_candidates, len(self._row_field))
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        if self.approximate:
            _, rows = self.index.vectors.search(vector.reshape(1, -1), count)
            return np.asarray(rows[0][rows[0] >= 0], dtype=np.int64)
        return _top(np.asarray(self._matrix @ vector, dtype=np.float32), count, positive=False)

    def rank(
        self,
        query: str,
        vector: Scores,
        k: int,
        weights: FusionWeights,
        group: str | None = None,
        tokens: Tokens | None = None,
    ) -> tuple[list[Hit], dict[str, NameMatch]]:
        """Rank entries for a query whose vector (and token vectors) may be known (evaluation embeds in batches)."""
        found = self.signals(query, vector, tokens)
        fused = fuse(found.features, weights)
        shown = visible(fused, found.name, weights)
        candidates = np.flatnonzero(shown)
        order = candidates[np.argsort(-fused[candidates], kind="stable")]

        def hit(local: int) -> Hit:
            position = int(found.positions[local])
            scores = {"dense": found.dense[local], "lexical": found.lexical[local], "name": found.name[local]}
            match = found.matches.get(self.entries[position].id)
            # snippets look for the words as read
            return self._hit(position, float(fused[local]), scores, int(found.best_row[local]), match, found.read)

        if group is None:
            return [hit(local) for local in order[:k]], found.matches
        groups: dict[str, list[int]] = {}
        for local in order:
            members = groups.get(self._term_key[found.positions[local]])
            if members is None and len(groups) < k:
                groups[self._term_key[found.positions[local]]] = [local]
            elif members is not None and len(members) <= MAX_SENSES:
                members.append(local)
        hits = [replace(hit(first), senses=[hit(other) for other in others]) for first, *others in groups.values()]
        return hits, found.matches

    @staticmethod
    def _bm25(retriever: bm25s.BM25, tokens: list[str], positions: npt.NDArray[np.int64] | None = None) -> Scores:
        """BM25 of every entry (bm25s adds up the query tokens' sparse columns), or of some entries only.

        For some entries (sorted positions), only the columns' cells of those entries are added up:
        no array over the whole corpus.
        """
        if not tokens:
            count = retriever.scores["num_docs"] if positions is None else len(positions)
            return np.zeros(count, dtype=np.float32)
        if positions is None:
            return np.asarray(retriever.get_scores(tokens), dtype=np.float32)
        ids = retriever.get_tokens_ids(tokens)
        indptr, indices, data = (retriever.scores[name] for name in ("indptr", "indices", "data"))
        cells = [np.arange(indptr[i], indptr[i + 1]) for i in ids]
        if not cells or len(positions) == 0:
            return np.zeros(len(positions), dtype=np.float32)
        cell = np.concatenate(cells)
        where = np.minimum(np.searchsorted(positions, indices[cell]), len(positions) - 1)
        kept = positions[where] == indices[cell]
        summed = np.bincount(where[kept], weights=data[cell][kept], minlength=len(positions))
        return summed.astype(np.float32)

    def _saturated(self, bm25: Scores) -> Scores:
        return saturate(bm25 / self.lexical_unit)

    def _hit(
        self, position: int, score: float, signals: dict[str, np.float32], row: int, match: NameMatch | None, query: str
    ) -> Hit:
        entry = self.entries[position]
        if match is not None and match.kind != "contained" and match.score >= signals["dense"]:
            field = "alias" if match.is_alias else "term"
        else:
            field = self._row_field[row] if row >= 0 else "definition"
        if field in ("term", "alias"):  # a name has no prose of its own: show the definition
            text = shorten(entry.definition)
        else:
            text = snippet(field_text(entry, field) or entry.definition, query)
        rounded = {name: round(float(value), 6) for name, value in signals.items()}
        return Hit(entry.id, entry.term, round(score, 6), field, text, entry.definition, entry.category, rounded)

    def _did_you_mean(self, query: str, matches: dict[str, NameMatch], answered: bool) -> str | None:
        """The closest name when the query looks like a misspelt one.

        With hits, only a typo close enough to have been matched; with none, a looser one.
        """
        if any(m.kind == "exact" for m in matches.values()):
            return None
        fuzzy = [m for m in matches.values() if m.kind == "fuzzy"]
        if fuzzy:
            return max(fuzzy, key=lambda m: m.score).name
        return None if answered else self.names.closest(query)


def _top(scores: Scores, count: int, positive: bool = True) -> npt.NDArray[np.int64]:
    """The positions of the `count` highest scores (unordered); with `positive`, of positive ones only."""
    chosen = np.flatnonzero(scores > 0) if positive else np.arange(len(scores))
    if len(chosen) > count:
        chosen = chosen[np.argpartition(-scores[chosen], count - 1)[:count]]
    return chosen.astype(np.int64)


def check_query(query: str, k: int, group: str | None = None) -> str:
    """The query stripped, or a QueryError saying what is wrong with it."""
    if not isinstance(query, str) or is_blank(query):  # whitespace and zero-width characters are blank
        raise QueryError("the query is empty; type a word or a question")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the maximum is {MAX_QUERY_CHARS}")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
    if group is not None and group not in GROUPINGS:
        raise QueryError(f"group must be {' or '.join(GROUPINGS)} (or absent), not {group!r}")
    return strip_blank(query)
