"""Embedded chunks of an unfinished build, kept beside the index so that a killed build resumes.

    PARENT/
      NAME                           the published index (see indexer.publish)
      .NAME.embeddings/
        3f9a1c0d2e4b5a69/            one model run by one runtime (the key hashes both)
          model.json                 {"model", "runtime"}: what the vectors were embedded with
          chunk-<hash>.npz           one embedded chunk: the SHA-256 of each text, its vector, and the
                                     token vectors the token store keeps of it (indexer.tokens), if any
          .tmp-<random>.npz          a chunk being written (left only by a killed build)
        (an unlinked temporary file while a build runs: the vectors in row order)

A chunk file is written whole and then renamed into place, so it is either absent or complete.
A resumed build looks up each text it must embed by its SHA-256 in the chunks of its own key: it
reuses only the vectors of identical texts embedded by the identical model and runtime. After a
build publishes, the whole `.NAME.embeddings/` directory is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from indexer.encoder import Vectors
from indexer.tokens import StoredTokens

logger = logging.getLogger(__name__)

SUFFIX = ".embeddings"
CHUNK_PREFIX = "chunk-"
TMP_PREFIX = ".tmp-"
DIGEST_BYTES = 32

Digests = npt.NDArray[np.uint8]  # (texts, 32): the SHA-256 of each text


def embeddings_dir(index_path: Path) -> Path:
    """Where the checkpoints of builds of `index_path` are kept: beside it, never inside a published build."""
    path = Path(os.path.abspath(index_path))
    return path.parent / f".{path.name}{SUFFIX}"


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def remove_checkpoints(index_path: Path) -> None:
    """Forget every checkpoint of `index_path` (after a publish, or when asked to start over)."""
    shutil.rmtree(embeddings_dir(index_path), ignore_errors=True)


class ChunkStore:
    """The checkpointed chunks of one model and runtime, for one index path."""

    def __init__(self, index_path: Path, model: str, runtime: str) -> None:
        key = hashlib.sha256(json.dumps([model, runtime]).encode()).hexdigest()[:16]
        self.root = embeddings_dir(index_path)
        self.directory = self.root / key
        self.directory.mkdir(parents=True, exist_ok=True)
        info = self.directory / "model.json"
        if not info.is_file():
            info.write_text(json.dumps({"model": model, "runtime": runtime}), encoding="utf-8")
        for other in self.root.iterdir():  # another model's vectors can never be reused
            if other.is_dir() and other != self.directory:
                shutil.rmtree(other, ignore_errors=True)
        for stale in self.directory.glob(f"{TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)

    def chunks(self) -> Iterator[tuple[Digests, Vectors, list[StoredTokens | None] | None]]:
        """Each complete chunk: the digests of its texts, their vectors, and their stored token vectors
        (None for a text without; None for a chunk without any). An unreadable chunk is removed."""
        for file in sorted(self.directory.glob(f"{CHUNK_PREFIX}*.npz")):
            try:
                with file.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
                    digests, vectors = data["digests"], data["vectors"]
                    tokens = (
                        _split_tokens(data["token_counts"], data["tokens"], len(vectors)) if "tokens" in data else None
                    )
                if digests.shape != (len(vectors), DIGEST_BYTES) or vectors.dtype != np.float32:
                    raise ValueError("the arrays disagree")
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                logger.warning("ignoring the damaged checkpoint %s (%s)", file, exc)
                file.unlink(missing_ok=True)
                continue
            yield digests, vectors, tokens

    def save(
        self, digests: Sequence[bytes], vectors: Vectors, tokens: Sequence[StoredTokens | None] | None = None
    ) -> Path:
        """Write one embedded chunk atomically (fsynced, then renamed into place)."""
        array = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), DIGEST_BYTES)
        name = f"{CHUNK_PREFIX}{hashlib.sha256(array.tobytes()).hexdigest()[:24]}.npz"
        handle, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".npz", dir=self.directory)
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "digests": array,
            "vectors": np.ascontiguousarray(vectors, dtype=np.float32),
        }
        if tokens is not None:
            present = [t for t in tokens if t is not None]
            arrays["token_counts"] = np.array([-1 if t is None else len(t) for t in tokens], dtype=np.int64)
            width = vectors.shape[1]
            arrays["tokens"] = np.concatenate(present) if present else np.zeros((0, width), dtype=np.float16)
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stubs type **kwds as allow_pickle
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.directory / name


def _split_tokens(counts: npt.NDArray[np.int64], tokens: StoredTokens, texts: int) -> list[StoredTokens | None]:
    """A chunk's token vectors, text by text (None where a text has none)."""
    if counts.shape != (texts,) or tokens.dtype != np.float16 or int(counts[counts > 0].sum()) != len(tokens):
        raise ValueError("the token arrays disagree")
    ends = np.cumsum(np.maximum(counts, 0))
    return [None if count < 0 else tokens[end - count : end] for count, end in zip(counts, ends, strict=True)]
