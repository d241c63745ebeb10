"""The token store: the model's vector of every content token of an entry's names, definition and
everyday descriptions (its plain English when it has none), kept in the index for late interaction
(search_api/late.py).

A pooled vector squeezes a definition into one point; a question worded nothing like the
definition may still share a few of its concepts token by token. Late interaction (ColBERT's
MaxSim, here untrained) scores a row by the mean, over the question's tokens, of each token's best
cosine among the row's tokens. The vectors are those of the forward pass that makes the row's
pooled vector, so a build pays for storing them, not for computing them.

Only what was measured to pay is kept (README, Ranking): the rows `stores_field` names, and of
those the tokens that are neither stop words nor punctuation, as float16. On the bundled glossary
that is about 85,000 tokens, 65 MB. Glossaries of more than TOKENS_UP_TO entries, or with an
approximate vector index, get no store: it would grow to gigabytes.

Two files in the index directory: `tokens.npy` (tokens, dimension) float16, and
`token_offsets.npy`, one more than the rows: row r's tokens are tokens[offsets[r]:offsets[r+1]]
(empty for the rows of other fields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.schema import Entry

TOKEN_FIELDS: tuple[str, ...] = ("term", "definition", "plain_english", "described_as")  # what a store may cover
TOKENS_UP_TO = 5_000  # entries; above it a build keeps no token store
TOKENS_FILE = "tokens.npy"
OFFSETS_FILE = "token_offsets.npy"
_STOP = frozenset(STOPWORDS_EN_PLUS)
_WORD = re.compile(r"\w")

TokenVectors = npt.NDArray[np.float32]  # (tokens, dimension), each row L2-normalised
StoredTokens = npt.NDArray[np.float16]


def stores_field(entry: Entry, field: str) -> bool:
    """Whether the store keeps the tokens of this field's row of the entry: its names and definition,
    and its everyday descriptions (`described_as`) where it has them, else its plain English."""
    if field == "plain_english":
        return not entry.described_as
    return field in TOKEN_FIELDS


def content_tokens(vocabulary: Mapping[str, int]) -> npt.NDArray[np.bool_]:
    """By token id: True for the tokens kept in the store (not stop words, not punctuation alone)."""
    keep = np.zeros(max(vocabulary.values(), default=-1) + 1, dtype=np.bool_)
    for token, number in vocabulary.items():
        keep[number] = token not in _STOP and bool(_WORD.search(token))
    return keep


def content_only(ids: npt.NDArray[np.int64], vectors: TokenVectors, keep: npt.NDArray[np.bool_]) -> TokenVectors:
    """The vectors of a text's content tokens (`keep`: content_tokens), or all of them if it has none.
    What the store keeps of an entry's row, and what counts of a question's tokens."""
    chosen = keep[np.minimum(ids, len(keep) - 1)] & (ids < len(keep))
    return vectors[chosen] if chosen.any() else vectors


@dataclass(frozen=True)
class TokenStore:
    """Every row's stored token vectors: one matrix, and where each row's tokens start and end."""

    vectors: StoredTokens  # (tokens, dimension); a read-only memory map when read from an index
    offsets: npt.NDArray[np.int64]  # (rows + 1,)

    @classmethod
    def assemble(cls, rows: int, dimension: int, by_row: Mapping[int, StoredTokens]) -> TokenStore:
        """The store of `rows` rows from the token vectors of some of them (the others hold none)."""
        counts = np.zeros(rows, dtype=np.int64)
        for row, vectors in by_row.items():
            counts[row] = len(vectors)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        matrix = np.zeros((int(offsets[-1]), dimension), dtype=np.float16)
        for row, vectors in by_row.items():
            matrix[offsets[row] : offsets[row + 1]] = vectors
        return cls(matrix, offsets)

    def row(self, number: int) -> StoredTokens:
        return self.vectors[self.offsets[number] : self.offsets[number + 1]]

    def write(self, directory: Path) -> None:
        np.save(directory / TOKENS_FILE, np.ascontiguousarray(self.vectors, dtype=np.float16))
        np.save(directory / OFFSETS_FILE, self.offsets)

    @classmethod
    def read(cls, directory: Path, rows: int, dimension: int) -> TokenStore:
        """The store of an index directory, its vectors memory-mapped (shared by the workers that read it)."""
        vectors = np.load(directory / TOKENS_FILE, mmap_mode="r", allow_pickle=False)
        offsets = np.load(directory / OFFSETS_FILE, allow_pickle=False)
        if (
            vectors.dtype != np.float16
            or vectors.ndim != 2
            or vectors.shape[1] != dimension
            or offsets.shape != (rows + 1,)
            or offsets[-1] != len(vectors)
            or np.any(np.diff(offsets) < 0)
        ):
            raise ValueError("the token store disagrees with the manifest about its sizes")
        return cls(vectors, offsets.astype(np.int64))


def wants_tokens(entries: int, vector_index_kind: str) -> bool:
    """Whether a build keeps a token store: a glossary-sized index scanned exactly."""
    return entries <= TOKENS_UP_TO and vector_index_kind == "flat"
