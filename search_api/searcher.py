"""Answering queries from an index: dense + lexical + name matching, fused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import bm25s
import faiss
import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from indexer.encoder import Encoder
from indexer.errors import IndexVersionError, QueryError
from indexer.lexical import build_names_lexical, tokenize
from indexer.onnx_encoder import load_query_encoder
from indexer.schema import Entry
from indexer.storage import StoredIndex, read_index, rebuild_hint
from indexer.texts import field_text
from search_api.features import UNSEEN, FieldRows, feature_matrix, name_columns
from search_api.fusion import FusionWeights, Scores, fuse, max_idf, saturate, visible
from search_api.hits import Answer, Hit
from search_api.names import NameIndex, NameMatch
from search_api.querytext import is_blank, strip_blank
from search_api.snippets import shorten, snippet

MAX_QUERY_CHARS = 500
MAX_K = 50
DENSE_CANDIDATES = 4096  # rows fetched from an index that cannot be scanned whole


@dataclass(frozen=True)
class Signals:
    """Each signal's score for every entry (arrays indexed by entry position), and the fused features."""

    dense: Scores
    best_row: npt.NDArray[np.int64]  # the row of each entry's best-matching field
    lexical: Scores  # BM25, raw
    name: Scores  # the entry's best name match, 0 to 1
    matches: dict[str, NameMatch]
    features: Scores  # (entries, len(FEATURES))


class Searcher:
    """Loads an index once and answers queries against it.

    >>> searcher = Searcher.load(".index")               # doctest: +SKIP
    >>> searcher.search("a program that chats with customers on a website", k=3)[0].term
    'chatbot'
    """

    def __init__(self, index: StoredIndex, encoder: Encoder, weights: FusionWeights | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.weights = weights or FusionWeights.learned()
        self.entries: list[Entry] = index.entries
        self.by_id = {entry.id: entry for entry in self.entries}
        self._position = {entry.id: i for i, entry in enumerate(self.entries)}
        self._row_field = [row.field for row in index.rows]
        self._fields = FieldRows(index.rows, self._position)
        # One thread per process: a glossary-sized scan gains nothing from more, and on a busy machine
        # a multi-threaded BLAS product over 6,307 rows took 13 ms instead of 0.8 ms.
        faiss.omp_set_num_threads(1)
        threadpool_limits(limits=1, user_api="blas")
        self._matrix = _flat_vectors(index.vectors)  # a view, no copy: scanned whole with one product
        self.names = NameIndex(self.entries)
        self._names_lexical = build_names_lexical(self.entries)
        self.lexical_unit = max_idf(len(self.entries))

    @classmethod
    def load(
        cls,
        path: str | Path,
        encoder: Encoder | None = None,
        weights: FusionWeights | None = None,
        threads: int | None = None,
        query_encoder: str = "onnx",
    ) -> Searcher:
        """Read and verify the index at `path`; load its model (once per process) unless given an encoder.

        `query_encoder` is "onnx" (the model run by ONNX Runtime: same vectors, faster) or "torch".
        """
        index = read_index(Path(path))
        model = index.manifest.query_model_name
        if encoder is not None and encoder.name != model:
            raise IndexVersionError(
                f"the index at {path} is queried with the model {model!r}, not {encoder.name!r}; "
                f"{rebuild_hint(Path(path), index.manifest.source)}"
            )
        return cls(index, encoder or load_query_encoder(model, threads, query_encoder), weights)

    @property
    def model(self) -> str:
        """The model that embeds queries (the index's own, or the same base with a query adapter)."""
        return self.index.manifest.query_model_name

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The best `k` entries for a query, best first (may be fewer, or none)."""
        return self.answer(query, k).hits

    def answer(self, query: str, k: int = 10, weights: FusionWeights | None = None) -> Answer:
        """Hits plus a did-you-mean name and the time spent embedding and searching."""
        query = check_query(query, k)
        started = time.perf_counter()
        vector = self.encoder.encode([query])
        embedded = time.perf_counter()
        hits, matches = self.rank(query, vector[0], k, weights or self.weights)
        finished = time.perf_counter()
        return Answer(
            query=query,
            hits=hits,
            did_you_mean=self._did_you_mean(query, matches, bool(hits)),
            embed_ms=round((embedded - started) * 1000, 3),
            search_ms=round((finished - embedded) * 1000, 3),
        )

    def signals(self, query: str, vector: Scores) -> Signals:
        """Every entry's score under each signal, for a query whose vector is already known."""
        similarity = self._similarity(vector)
        dense, best_row = self._fields.dense(similarity)
        cosines, best = self._fields.cosines(similarity)
        matches = self.names.match(query)
        names = name_columns(matches, self._position, len(self.entries))
        tokens = list(tokenize(query))
        lexical = self._bm25(self.index.lexical, tokens)
        lexical_names = self._bm25(self._names_lexical, tokens)
        features = feature_matrix(dense, cosines, best, self._saturated(lexical), names, self._saturated(lexical_names))
        return Signals(dense, best_row, lexical, names.max(axis=1), matches, features)

    def rank(
        self, query: str, vector: Scores, k: int, weights: FusionWeights
    ) -> tuple[list[Hit], dict[str, NameMatch]]:
        """Rank entries for a query whose vector is already known (evaluation embeds in batches)."""
        found = self.signals(query, vector)
        fused = fuse(found.features, weights)
        shown = visible(fused, found.name, weights)
        candidates = np.flatnonzero(shown)
        order = candidates[np.argsort(-fused[candidates], kind="stable")[:k]]
        hits = []
        for position in order:
            scores = {"dense": found.dense[position], "lexical": found.lexical[position], "name": found.name[position]}
            match = found.matches.get(self.entries[position].id)
            hits.append(self._hit(position, float(fused[position]), scores, found.best_row[position], match, query))
        return hits, found.matches

    def _similarity(self, vector: Scores) -> Scores:
        """The query's cosine with every row; rows a non-flat index does not return get UNSEEN."""
        if self._matrix is not None:
            return np.asarray(self._matrix @ vector, dtype=np.float32)
        count = min(self.index.vectors.ntotal, DENSE_CANDIDATES)
        scores, rows = self.index.vectors.search(vector.reshape(1, -1), count)
        keep = rows[0] >= 0
        similarity = np.full(len(self._row_field), UNSEEN, dtype=np.float32)
        similarity[rows[0][keep]] = scores[0][keep]
        return similarity

    @staticmethod
    def _bm25(retriever: bm25s.BM25, tokens: list[str]) -> Scores:
        if not tokens:
            return np.zeros(retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(retriever.get_scores(tokens), dtype=np.float32)

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


def _flat_vectors(index: faiss.Index) -> npt.NDArray[np.float32] | None:
    """The stored vectors of a flat index as a (rows, dimension) view of FAISS's own buffer."""
    if not isinstance(index, faiss.IndexFlat) or index.ntotal == 0:
        return None
    flat = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d)
    return np.asarray(flat, dtype=np.float32).reshape(index.ntotal, index.d)


def check_query(query: str, k: int) -> str:
    """The query stripped, or a QueryError saying what is wrong with it."""
    if not isinstance(query, str) or is_blank(query):  # whitespace and zero-width characters are blank
        raise QueryError("the query is empty; type a word or a question")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the maximum is {MAX_QUERY_CHARS}")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
    return strip_blank(query)
