"""The features the ranker fuses, computed for every entry of an index at once.

Row similarities (the query's cosine with every embedded field text) become per-entry
features: the aggregated dense score, the cosine of each field, the best field; the name
matches become exact / fuzzy / contained columns; BM25 gives two columns. The order is
`fusion.FEATURES`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from indexer.storage import Row
from indexer.texts import EMBEDDED_FIELDS
from search_api.fusion import FEATURES, FIELD_WEIGHTS, SECOND_FIELD_SHARE, Scores
from search_api.names import NameMatch

MATCH_KINDS = ("exact", "fuzzy", "contained")
UNSEEN = -1.0  # the similarity of a row the vector search did not return (large indexes)


class FieldRows:
    """Where each entry's field vectors are: rows grouped by entry, and an (entry, field) -> row table."""

    def __init__(self, rows: list[Row], position: dict[str, int]) -> None:
        self.entries = len(position)
        row_entry = np.array([position[row.entry_id] for row in rows], dtype=np.int64)
        self.row_weight = np.array([FIELD_WEIGHTS.get(row.field, 1.0) for row in rows], dtype=np.float32)
        self.table = np.full((self.entries, len(EMBEDDED_FIELDS)), -1, dtype=np.int64)
        column = {name: i for i, name in enumerate(EMBEDDED_FIELDS)}
        for number, row in enumerate(rows):
            self.table[row_entry[number], column[row.field]] = number
        # Rows grouped by entry, so that per-entry maxima are one numpy reduction each.
        self.grouped = np.argsort(row_entry, kind="stable")
        group_entries, starts, sizes = np.unique(row_entry[self.grouped], return_index=True, return_counts=True)
        self.group_entries, self.starts, self.sizes = group_entries, starts, sizes

    def dense(self, similarity: Scores) -> tuple[Scores, npt.NDArray[np.int64]]:
        """Per entry: the weighted best and second-best field similarity mixed, and the best field's row."""
        weighted = (similarity * self.row_weight)[self.grouped]
        best = np.maximum.reduceat(weighted, self.starts)
        is_best = weighted == np.repeat(best, self.sizes)
        positions = np.arange(len(weighted))
        best_at = np.minimum.reduceat(np.where(is_best, positions, len(weighted)), self.starts)
        runner = weighted.copy()
        runner[best_at] = -np.inf
        second = np.maximum.reduceat(runner, self.starts)
        second = np.where(np.isfinite(second), second, best)  # an entry with a single field
        dense = np.zeros(self.entries, dtype=np.float32)
        best_row = np.full(self.entries, -1, dtype=np.int64)
        dense[self.group_entries] = (1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second
        best_row[self.group_entries] = self.grouped[best_at]
        return dense, best_row

    def cosines(self, similarity: Scores) -> tuple[Scores, Scores]:
        """(entries, fields) cosines, a missing field filled with the entry's best one; and that best."""
        present = self.table >= 0
        values = np.where(present, similarity[np.maximum(self.table, 0)], -np.inf).astype(np.float32)
        best = values.max(axis=1)
        return np.where(present, values, best[:, None]).astype(np.float32), best


def name_columns(matches: dict[str, NameMatch], position: dict[str, int], entries: int) -> Scores:
    """(entries, 3): the score of each entry's name match under its kind (exact, fuzzy, contained)."""
    columns = np.zeros((entries, len(MATCH_KINDS)), dtype=np.float32)
    for entry_id, match in matches.items():
        columns[position[entry_id], MATCH_KINDS.index(match.kind)] = match.score
    return columns


def feature_matrix(
    dense: Scores, cosines: Scores, best: Scores, lexical: Scores, names: Scores, lexical_names: Scores
) -> Scores:
    """The features of every entry as one (entries, len(FEATURES)) matrix."""
    matrix = np.column_stack([dense, cosines, best, lexical, names, lexical_names]).astype(np.float32)
    assert matrix.shape[1] == len(FEATURES)
    return matrix
