"""Late interaction: a question's token vectors against the index's token store (indexer.tokens).

A row's score is ColBERT's MaxSim, untrained: the mean, over the question's tokens, of each
token's best cosine among the row's stored tokens. Each entry gets four features (fusion.LATE_FEATURES):
the MaxSim of its best row, and of its names, definition and plain-English rows (a row the entry
lacks takes its best row's value).

Only the CANDIDATES entries that the ranker without these features puts first are scored; every
other entry takes, in each column, the lowest value among the candidates, so that it can neither
gain nor lose against them on this signal. A question costs a few hundred microseconds instead of
tens of milliseconds for every entry (README, Ranking, gives the dev figures of both).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from indexer.encoder import Vectors
from indexer.storage import Row
from indexer.tokens import TOKEN_FIELDS, TokenStore
from search_api.fusion import Scores

CANDIDATES = 20  # entries scored per question (dev CV R@1 0.828 to 0.833 from 10 to 50: README, Ranking)


class LateInteraction:
    """MaxSim features of some entries, from a token store and the rows it belongs to."""

    def __init__(self, store: TokenStore, rows: list[Row], position: dict[str, int]) -> None:
        self._offsets = store.offsets
        # float32 in memory (twice the store's size on disk: 97 MB for the bundled glossary): converting
        # a question's candidate tokens from float16 took longer than comparing them.
        self._vectors = np.asarray(store.vectors, dtype=np.float32)
        # (entries, TOKEN_FIELDS): the row of each stored field of each entry, -1 where it has none
        self._rows = np.full((len(position), len(TOKEN_FIELDS)), -1, dtype=np.int64)
        column = {field: number for number, field in enumerate(TOKEN_FIELDS)}
        lengths = np.diff(store.offsets)
        for number, row in enumerate(rows):
            if row.field in column and lengths[number] > 0:
                self._rows[position[row.entry_id], column[row.field]] = number

    def features(self, query_tokens: Vectors, entries: npt.NDArray[np.int64]) -> Scores:
        """(len(entries), 1 + len(TOKEN_FIELDS)): MaxSim of each entry's best row, then of each field's row."""
        table = self._rows[entries]
        present = table >= 0
        rows = table[present]
        starts, ends = self._offsets[rows], self._offsets[rows + 1]
        lengths = ends - starts
        placed = np.cumsum(lengths) - lengths  # where each row's tokens start in the gathered matrix
        gathered = np.arange(int(lengths.sum())) + np.repeat(starts - placed, lengths)
        values = np.full(table.shape, -np.inf, dtype=np.float32)
        if len(rows):
            similarity = self._vectors[gathered] @ query_tokens.T  # (gathered tokens, question tokens)
            values[present] = np.maximum.reduceat(similarity, placed, axis=0).mean(axis=1)
        best = values.max(axis=1)
        best = np.where(np.isfinite(best), best, 0.0).astype(np.float32)  # an entry without stored rows
        columns = np.where(present, values, best[:, None])
        return np.column_stack([best, columns]).astype(np.float32)

    def fill(self, features: Scores, query_tokens: Vectors, positions: npt.NDArray[np.int64], first: Scores) -> None:
        """Write the late-interaction columns of `features` (the last ones) in place.

        `positions`: the entries the features belong to; `first`: their fused scores without these
        features, which choose the candidates.
        """
        count = min(CANDIDATES, len(positions))
        if count == 0:
            return
        chosen = np.argpartition(-first, count - 1)[:count] if len(positions) > count else np.arange(len(positions))
        late = self.features(query_tokens, positions[chosen])
        width = late.shape[1]
        features[:, -width:] = late.min(axis=0)
        features[chosen, -width:] = late
