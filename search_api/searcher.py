"""Answering queries from an index: dense + lexical + name matching, fused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from indexer.encoder import Encoder
from indexer.errors import QueryError
from indexer.lexical import tokenize
from indexer.onnx_encoder import load_query_encoder
from indexer.schema import Entry
from indexer.storage import StoredIndex, read_index
from indexer.texts import field_text
from search_api.fusion import FIELD_WEIGHTS, SECOND_FIELD_SHARE, FusionWeights, Scores, fuse, max_idf, visible
from search_api.hits import Answer, Hit
from search_api.names import NameIndex, NameMatch
from search_api.querytext import is_blank, strip_blank
from search_api.snippets import shorten, snippet

MAX_QUERY_CHARS = 500
MAX_K = 50
DENSE_CANDIDATES = 4096  # rows fetched from FAISS; a glossary's rows usually all fit


@dataclass(frozen=True)
class Signals:
    """Each signal's score for every entry (arrays indexed by entry position)."""

    dense: Scores
    best_row: npt.NDArray[np.int64]  # the row of each entry's best-matching field
    lexical: Scores
    name: Scores
    matches: dict[str, NameMatch]


class Searcher:
    """Loads an index once and answers queries against it.

    >>> searcher = Searcher.load(".index")               # doctest: +SKIP
    >>> searcher.search("what happens when a model makes predictions?", k=3)[0].term
    'inference'
    """

    def __init__(self, index: StoredIndex, encoder: Encoder, weights: FusionWeights | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.weights = weights or FusionWeights()
        self.entries: list[Entry] = index.entries
        self.by_id = {entry.id: entry for entry in self.entries}
        self._position = {entry.id: i for i, entry in enumerate(self.entries)}
        self._row_entry = np.array([self._position[row.entry_id] for row in index.rows], dtype=np.int64)
        self._row_field = [row.field for row in index.rows]
        self._row_weight = np.array([FIELD_WEIGHTS.get(f, 1.0) for f in self._row_field], dtype=np.float32)
        # Rows grouped by entry, so that per-entry maxima are one numpy reduction each.
        self._grouped = np.argsort(self._row_entry, kind="stable")
        group_entries, starts, sizes = np.unique(self._row_entry[self._grouped], return_index=True, return_counts=True)
        self._group_entries, self._group_starts, self._group_sizes = group_entries, starts, sizes
        faiss.omp_set_num_threads(1)  # a glossary-sized search gains nothing from more threads
        self.names = NameIndex(self.entries)
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
        index = read_index(Path(path), expected_model=encoder.name if encoder is not None else None)
        return cls(index, encoder or load_query_encoder(index.manifest.model, threads, query_encoder), weights)

    @property
    def model(self) -> str:
        return self.index.manifest.model

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
        dense, best_row = self._dense(vector)
        matches = self.names.match(query)
        name = np.zeros(len(self.entries), dtype=np.float32)
        for entry_id, match in matches.items():
            name[self._position[entry_id]] = match.score
        return Signals(dense, best_row, self._lexical(query), name, matches)

    def rank(
        self, query: str, vector: Scores, k: int, weights: FusionWeights
    ) -> tuple[list[Hit], dict[str, NameMatch]]:
        """Rank entries for a query whose vector is already known (evaluation embeds in batches)."""
        found = self.signals(query, vector)
        fused = fuse(found.dense, found.lexical, found.name, weights, self.lexical_unit)
        shown = visible(fused, found.name, weights)
        candidates = np.flatnonzero(shown)
        order = candidates[np.argsort(-fused[candidates], kind="stable")[:k]]
        hits = []
        for position in order:
            scores = {"dense": found.dense[position], "lexical": found.lexical[position], "name": found.name[position]}
            match = found.matches.get(self.entries[position].id)
            hits.append(self._hit(position, float(fused[position]), scores, found.best_row[position], match, query))
        return hits, found.matches

    def _dense(self, vector: Scores) -> tuple[Scores, npt.NDArray[np.int64]]:
        """Per entry: the weighted best and second-best field similarity mixed, and the best field's row."""
        count = min(self.index.vectors.ntotal, DENSE_CANDIDATES)
        scores, rows = self.index.vectors.search(vector.reshape(1, -1), count)
        keep = rows[0] >= 0
        similarity = np.full(len(self._row_field), -1.0, dtype=np.float32)  # rows not fetched rank last
        similarity[rows[0][keep]] = scores[0][keep]
        weighted = (similarity * self._row_weight)[self._grouped]  # rows grouped by entry
        starts = self._group_starts
        best = np.maximum.reduceat(weighted, starts)
        is_best = weighted == np.repeat(best, self._group_sizes)
        positions = np.arange(len(weighted))
        best_at = np.minimum.reduceat(np.where(is_best, positions, len(weighted)), starts)
        runner = weighted.copy()
        runner[best_at] = -np.inf
        second = np.maximum.reduceat(runner, starts)
        second = np.where(np.isfinite(second), second, best)  # an entry with a single field
        dense = np.zeros(len(self.entries), dtype=np.float32)
        best_row = np.full(len(self.entries), -1, dtype=np.int64)
        dense[self._group_entries] = (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second
        best_row[self._group_entries] = self._grouped[best_at]
        return dense, best_row

    def _lexical(self, query: str) -> Scores:
        tokens = tokenize(query)
        if not tokens:
            return np.zeros(len(self.entries), dtype=np.float32)
        return np.asarray(self.index.lexical.get_scores(list(tokens)), dtype=np.float32)

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


def check_query(query: str, k: int) -> str:
    """The query stripped, or a QueryError saying what is wrong with it."""
    if not isinstance(query, str) or is_blank(query):  # whitespace and zero-width characters are blank
        raise QueryError("the query is empty; type a word or a question")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the maximum is {MAX_QUERY_CHARS}")
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
    return strip_blank(query)
