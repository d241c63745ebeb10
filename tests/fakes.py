"""A deterministic stand-in encoder for mechanics tests (storage, incremental builds).

Ranking, the API, the CLI and the widget are tested with the real model instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from indexer.encoder import Tokens, Vectors

FAKE_VOCABULARY = 1024  # token ids: a word's hash, modulo this


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

    def encode_tokens(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[Vectors, list[Tokens]]:
        """`encode`, and one hash-seeded vector per word as the text's tokens."""
        return self.encode(texts, progress), [self._tokens(text) for text in texts]

    def vocabulary(self) -> dict[str, int]:
        return {f"w{number}": number for number in range(FAKE_VOCABULARY)}

    def _tokens(self, text: str) -> Tokens:
        words = text.split() or [text]
        seeds = [int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little") for word in words]
        vectors = np.vstack([np.random.default_rng(s).standard_normal(self.dimension) for s in seeds])
        ids = np.array([seed % FAKE_VOCABULARY for seed in seeds], dtype=np.int64)
        return ids, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
