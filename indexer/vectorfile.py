"""Vectors on disk while a build assembles them, so that the index is never held twice in memory.

A build writes each row's vector (fresh from the model, from a checkpoint, or from the previous
index) into a `VectorFile`: an unlinked temporary file of float32 rows, so a killed build leaves
nothing behind. Writing the FAISS index then reads it back block by block.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from indexer.encoder import Vectors

BLOCK_ROWS = 16_384  # rows read at once while writing the index (24 MiB at 384 dimensions)


class VectorFile:
    """Row-major float32 vectors in an anonymous file: written in any order, read in row order."""

    def __init__(self, rows: int, dimension: int, directory: Path) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self._file.truncate(rows * dimension * 4)
        self.shape = (rows, dimension)

    def __len__(self) -> int:
        return self.shape[0]

    def write(self, rows: Sequence[int] | npt.NDArray[np.int64], vectors: Vectors) -> None:
        """Put `vectors[i]` at row `rows[i]`; runs of consecutive rows are written in one call."""
        positions = np.asarray(rows, dtype=np.int64)
        if len(positions) == 0:
            return
        order = np.argsort(positions, kind="stable")
        positions = positions[order]
        data = np.ascontiguousarray(vectors[order], dtype=np.float32)
        breaks = np.flatnonzero(np.diff(positions) != 1) + 1
        row_bytes = self.shape[1] * 4
        fd = self._file.fileno()
        for start, stop in zip([0, *breaks.tolist()], [*breaks.tolist(), len(positions)], strict=True):
            os.pwrite(fd, data[start:stop].tobytes(), int(positions[start]) * row_bytes)

    def read(self, start: int, stop: int) -> Vectors:
        """Rows `start` to `stop` (excluded) as an array of their own."""
        stop = min(stop, self.shape[0])
        row_bytes = self.shape[1] * 4
        block = np.empty((max(stop - start, 0), self.shape[1]), dtype=np.float32)
        view, offset = block.data.cast("B"), start * row_bytes
        while view:
            count = os.preadv(self._file.fileno(), [view], offset)
            if count == 0:
                raise OSError(f"the vector file ends before row {stop}")
            view, offset = view[count:], offset + count
        return block

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VectorFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def row_blocks(vectors: Vectors | VectorFile, size: int = BLOCK_ROWS) -> Iterator[Vectors]:
    """The rows of an array or a vector file, `size` at a time, in order."""
    for start in range(0, vectors.shape[0], size):
        if isinstance(vectors, VectorFile):
            yield vectors.read(start, start + size)
        else:
            yield np.ascontiguousarray(vectors[start : start + size], dtype=np.float32)
