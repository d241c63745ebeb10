"""Late interaction: a question's token vectors against the index's token store (indexer.tokens).

A row's score is ColBERT's MaxSim, untrained: the mean, over the question's content tokens
(its stop words and punctuation left out, as the store leaves them out of the entries), of each
token's best cosine among the row's stored tokens. Each entry gets four features
(fusion.LATE_FEATURES): the MaxSim of its best row, of its names row and of its definition row (a
row the entry lacks takes its best row's value), and of all its stored tokens taken together, so
that a question whose words are spread over the names, the definition and the descriptions
still finds each of them.

Only the CANDIDATES entries that the ranker without these features puts first are scored; every
other entry takes, in each column, the lowest value among the candidates, so that it can neither
gain nor lose against them on this signal. Scoring them added about 0.6 ms to a question's ranking
on the bundled glossary before its everyday descriptions, whose tokens make the rows longer (README,
Performance); scoring every entry would take tens of milliseconds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from indexer.encoder import Tokens, Vectors
from indexer.storage import Row
from indexer.tokens import TOKEN_FIELDS, TokenStore, content_only
from search_api.fusion import Scores

FIELD_COLUMNS = ("term", "definition")  # the stored fields that get a column of their own

CANDIDATES = 20  # entries scored per question (dev CV R@1 0.850, 0.852, 0.850 for 10, 20, 50: README, Ranking)


class LateInteraction:
    """MaxSim features of some entries, from a token store and the rows it belongs to."""

    def __init__(
        self, store: TokenStore, rows: list[Row], position: dict[str, int], content: npt.NDArray[np.bool_]
    ) -> None:
        """`content`: by token id, whether a question's token counts (indexer.tokens.content_tokens)."""
        self._content = content
        self._offsets = store.offsets
        # float32 in memory (twice the store's size on disk: 131 MB for the bundled glossary): converting
        # a question's candidate tokens from float16 took longer than comparing them.
        self._vectors = np.asarray(store.vectors, dtype=np.float32)
        # (entries, TOKEN_FIELDS): the row of each stored field of each entry, -1 where it has none
        self._rows = np.full((len(position), len(TOKEN_FIELDS)), -1, dtype=np.int64)
        column = {field: number for number, field in enumerate(TOKEN_FIELDS)}
        lengths = np.diff(store.offsets)
        for number, row in enumerate(rows):
            if row.field in column and lengths[number] > 0:
                self._rows[position[row.entry_id], column[row.field]] = number

    def question(self, tokens: Tokens) -> Vectors:
        """A question's token vectors that count: its content tokens (all of them if it has none)."""
        return content_only(*tokens, self._content)

    def features(self, question: Vectors, entries: npt.NDArray[np.int64]) -> Scores:
        """(len(entries), 4): MaxSim of each entry's best row, of its names and definition rows, and of all
        its stored tokens together. `question`: the question's token vectors that count (`question`)."""
        table = self._rows[entries]
        present = table >= 0
        rows = table[present]  # entry by entry, in field order
        starts, ends = self._offsets[rows], self._offsets[rows + 1]
        lengths = ends - starts
        placed = np.cumsum(lengths) - lengths  # where each row's tokens start in the gathered matrix
        gathered = np.arange(int(lengths.sum())) + np.repeat(starts - placed, lengths)
        values = np.full(table.shape, -np.inf, dtype=np.float32)
        together = np.zeros(len(entries), dtype=np.float32)
        if len(rows):
            similarity = self._vectors[gathered] @ question.T  # (gathered tokens, question tokens)
            values[present] = np.maximum.reduceat(similarity, placed, axis=0).mean(axis=1)
            # An entry's rows are gathered one after the other: its tokens are one run.
            per_entry = np.zeros(len(entries), dtype=np.int64)
            np.add.at(per_entry, np.repeat(np.arange(len(entries)), present.sum(axis=1)), lengths)
            has = per_entry > 0
            runs = (np.cumsum(per_entry) - per_entry)[has]
            together[has] = np.maximum.reduceat(similarity, runs, axis=0).mean(axis=1)
        best = values.max(axis=1)
        best = np.where(np.isfinite(best), best, 0.0).astype(np.float32)  # an entry without stored rows
        columns = [best]
        for field in FIELD_COLUMNS:
            column = values[:, TOKEN_FIELDS.index(field)]
            columns.append(np.where(np.isfinite(column), column, best))
        columns.append(together)
        return np.column_stack(columns).astype(np.float32)

    def fill(self, features: Scores, tokens: Tokens, positions: npt.NDArray[np.int64], first: Scores) -> None:
        """Write the late-interaction columns of `features` (the last ones) in place.

        `tokens`: the question's token ids and vectors; `positions`: the entries the features belong
        to; `first`: their fused scores without these features, which choose the candidates.
        """
        count = min(CANDIDATES, len(positions))
        if count == 0:
            return
        chosen = np.argpartition(-first, count - 1)[:count] if len(positions) > count else np.arange(len(positions))
        late = self.features(self.question(tokens), positions[chosen])
        width = late.shape[1]
        features[:, -width:] = late.min(axis=0)
        features[chosen, -width:] = late
