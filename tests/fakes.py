"""A deterministic stand-in encoder for mechanics tests (storage, incremental builds).

Ranking, the API, the CLI and the widget are tested with the real model instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from indexer.encoder import Vectors


class FakeEncoder:
    """Hash-seeded unit vectors; records every text it was asked to embed."""

    name = "fake-encoder"
    dimension = 16
    runtime = "fake-runtime"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors:
        rows = []
        for text in texts:
            if self.fail_after is not None and len(self.calls) >= self.fail_after:
                raise RuntimeError("simulated failure while embedding")
            self.calls.append(text)
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        if progress is not None:
            progress(len(texts))
        return np.vstack(rows)
