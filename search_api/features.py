"""The features the ranker fuses, computed for every entry of an index at once.

Row similarities (the query's cosine with every embedded field text) become per-entry
features: the aggregated dense score, the cosine of each field, the best field; the name
matches become exact / fuzzy / contained columns; BM25 gives two columns; late interaction
(search_api/late.py) the last four. The order is `fusion.FEATURES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.storage import Row
from indexer.texts import EMBEDDED_FIELDS
from search_api.fusion import FEATURES, FIELD_WEIGHTS, LATE_FEATURES, SECOND_FIELD_SHARE, Scores
from search_api.names import NameMatch

MATCH_KINDS = ("exact", "fuzzy", "contained")


class FieldRows:
    """Where each entry's field vectors are: rows grouped by entry, and an (entry, field) -> row table."""

    def __init__(self, rows: list[Row], position: dict[str, int]) -> None:
        self.entries = len(position)
        row_entry = np.array([position[row.entry_id] for row in rows], dtype=np.int64)
        self.row_entry = row_entry
        self.row_weight = np.array([FIELD_WEIGHTS.get(row.field, 1.0) for row in rows], dtype=np.float32)
        self.field_weight = np.array([FIELD_WEIGHTS.get(name, 1.0) for name in EMBEDDED_FIELDS], dtype=np.float32)
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

    def of_entries(self, positions: npt.NDArray[np.int64], vectors: Scores, query: Scores) -> EntryDense:
        """`dense` and `cosines` for some entries only, their field vectors scored exactly (large indexes).

        The same numbers as the whole-index methods give for these entries; ties between fields go to
        the earlier field, as there (an entry's rows are stored in field order).
        """
        table = self.table[positions]
        present = table >= 0
        values = np.full(table.shape, -np.inf, dtype=np.float32)
        values[present] = vectors[table[present]] @ query
        weighted = values * self.field_weight
        across = np.arange(len(positions))
        best_column = np.argmax(weighted, axis=1)
        best = weighted[across, best_column]
        runner = weighted.copy()
        runner[across, best_column] = -np.inf
        second = runner.max(axis=1)
        second = np.where(np.isfinite(second), second, best)  # an entry with a single field
        dense = ((1 - SECOND_FIELD_SHARE) * best + SECOND_FIELD_SHARE * second).astype(np.float32)
        top = values.max(axis=1)
        cosines = np.where(present, values, top[:, None]).astype(np.float32)
        return EntryDense(dense, table[across, best_column], cosines, top)


@dataclass(frozen=True)
class EntryDense:
    """The dense features of some entries: aggregate, best field's row, each field's cosine, the best cosine."""

    dense: Scores
    best_row: npt.NDArray[np.int64]
    cosines: Scores
    best: Scores


def name_columns(matches: dict[str, NameMatch], position: dict[str, int], entries: int) -> Scores:
    """(entries, 3): the score of each entry's name match under its kind (exact, fuzzy, contained).

    `position` maps an entry id to its row; matches of entries it lacks are left out.
    """
    columns = np.zeros((entries, len(MATCH_KINDS)), dtype=np.float32)
    for entry_id, match in matches.items():
        row = position.get(entry_id)
        if row is not None:
            columns[row, MATCH_KINDS.index(match.kind)] = match.score
    return columns


def feature_matrix(
    dense: Scores, cosines: Scores, best: Scores, lexical: Scores, names: Scores, lexical_names: Scores
) -> Scores:
    """The features of every entry as one (entries, len(FEATURES)) matrix, the late-interaction columns 0
    (search_api.late fills them in where the index has a token store)."""
    late = np.zeros((len(dense), len(LATE_FEATURES)), dtype=np.float32)
    matrix = np.column_stack([dense, cosines, best, lexical, names, lexical_names, late]).astype(np.float32)
    assert matrix.shape[1] == len(FEATURES)
    return matrix
