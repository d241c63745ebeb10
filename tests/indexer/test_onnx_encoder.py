"""The ONNX query encoder gives the torch model's vectors, and is exported once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.encoder import DEFAULT_MODEL, SentenceTransformerEncoder, resolve_model_path
from indexer.errors import ModelLoadError
from indexer.onnx_encoder import (
    INFO_FILE,
    INT8_FILE,
    OnnxEncoder,
    _cached_encoder,
    _export_dir,
    _quantize,
    cache_dir,
    export,
    load_onnx_encoder,
    load_runtime_encoder,
)

TEXTS = [
    "what happens when a model makes predictions?",
    "RAG",
    "naïve Bayes vs logistic regression: which one for 200 labelled e-mails?",
    "token " * 400,  # longer than the model's 256-token limit: truncated the same way
]


def test_onnx_vectors_equal_torch_vectors(encoder: SentenceTransformerEncoder) -> None:
    onnx = load_onnx_encoder(DEFAULT_MODEL)
    assert (onnx.name, onnx.dimension) == (DEFAULT_MODEL, 384)
    vectors = onnx.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    assert np.sum(vectors * encoder.encode(TEXTS), axis=1) == pytest.approx([1.0] * 4, abs=1e-4)


def test_batches_of_many_lengths_give_each_text_its_own_vector(encoder: SentenceTransformerEncoder) -> None:
    """A build embeds texts sorted by length in padded batches: padding must change no vector, nor the order."""
    words = ["the", "model", "learns", "a", "mapping", "from", "inputs", "to", "outputs", "by", "adjusting"]
    texts = [" ".join(words[: 1 + (7 * n) % len(words)]) * (1 + n % 3) for n in range(70)]  # mixed lengths
    vectors = load_onnx_encoder(DEFAULT_MODEL).encode(texts)
    assert np.sum(vectors * encoder.encode(texts), axis=1) == pytest.approx([1.0] * 70, abs=1e-4)
    assert np.sum(vectors * load_onnx_encoder(DEFAULT_MODEL).encode(texts[::-1])[::-1], axis=1) == pytest.approx(
        [1.0] * 70, abs=1e-6
    )


def test_export_is_kept_in_the_cache_directory() -> None:
    load_onnx_encoder(DEFAULT_MODEL)
    exported = _export_dir(resolve_model_path(DEFAULT_MODEL), DEFAULT_MODEL)
    assert exported.parent == cache_dir() / "onnx" and (exported / INFO_FILE).is_file()
    assert (exported / "model.onnx").stat().st_size > 1_000_000
    assert not list((cache_dir() / "onnx").glob(".*tmp-*"))  # no half-written export left behind


def test_an_export_that_loses_the_race_keeps_the_winner(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two workers starting together both export; the second to finish must not fail nor remove the first's."""
    target = tmp_path / "onnx" / "model"
    export(DEFAULT_MODEL, target)
    assert (target / INT8_FILE).is_file()
    assert "quantization" not in caplog.text  # the quantizer's advice to pre-process stays out of a build's output
    first = (target / "model.onnx").stat().st_mtime_ns
    export(DEFAULT_MODEL, target)  # finishes second: keeps the first export
    assert (target / "model.onnx").stat().st_mtime_ns == first
    assert [p.name for p in target.parent.iterdir()] == ["model"]  # its own work removed, nothing half-written


def test_query_encoder_choice(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown encoder 'tensorflow'; use one of onnx-int8, onnx, torch"):
        load_runtime_encoder(DEFAULT_MODEL, None, "tensorflow")
    assert isinstance(load_runtime_encoder(DEFAULT_MODEL, None, "torch"), SentenceTransformerEncoder)
    with pytest.raises(ModelLoadError, match="needs a local model directory"):
        load_onnx_encoder(str(tmp_path / "no-such-model"))


def test_a_failed_export_is_a_model_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any failure while exporting becomes ModelLoadError, which load_runtime_encoder answers with torch."""

    def broken_export(model_name: str, directory: Path) -> None:
        raise RuntimeError("exporter exploded")

    monkeypatch.setenv("GLOSSARY_CACHE", str(tmp_path))
    monkeypatch.setattr("indexer.onnx_encoder.export", broken_export)
    with pytest.raises(ModelLoadError, match=r"cannot export or open .* \(RuntimeError: exporter exploded\)"):
        load_onnx_encoder(DEFAULT_MODEL)


def test_a_padded_batch_gives_the_one_at_a_time_vectors() -> None:
    """encode_tokens (a server embedding concurrent queries together) pads texts of different lengths."""
    onnx = load_onnx_encoder(DEFAULT_MODEL)
    batched, _ = onnx.encode_tokens(TEXTS)
    assert batched.dtype == np.float32 and batched.shape == (4, 384)
    assert np.abs(batched - np.vstack([onnx.encode([text]) for text in TEXTS])).max() < 1e-6
    assert np.array_equal(onnx.encode_tokens(TEXTS[:1])[0], onnx.encode(TEXTS[:1]))  # one text: the same call


def test_int8_copy_is_made_at_export_and_stays_near_the_model(encoder: SentenceTransformerEncoder) -> None:
    """The queries' default encoder: int8 weights, vectors within cosine 0.97 of the torch model's, made once."""
    int8 = load_runtime_encoder(DEFAULT_MODEL, None, "onnx-int8")
    assert isinstance(int8, OnnxEncoder) and int8.runtime.endswith("-int8") and int8.name == DEFAULT_MODEL
    exported = _export_dir(resolve_model_path(DEFAULT_MODEL), DEFAULT_MODEL)
    assert (exported / INT8_FILE).stat().st_size < (exported / "model.onnx").stat().st_size
    cosines = np.sum(int8.encode(TEXTS) * encoder.encode(TEXTS), axis=1)
    assert cosines.min() >= 0.97 and cosines.max() < 0.99999  # near, and really another model
    assert not list(exported.glob(".*tmp-*"))


def test_without_an_int8_copy_queries_use_full_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A quantizer that fails (here: an unwritable file) costs speed, never the service: a warning, then onnx;
    an export without its int8 copy (a cache written before it existed) gets one when loaded."""

    def broken(directory: Path, tokenizer: Path, probes: object) -> None:
        raise PermissionError(13, "Permission denied", str(directory / INT8_FILE))

    working = _quantize
    monkeypatch.setenv("GLOSSARY_CACHE", str(tmp_path))
    monkeypatch.setattr("indexer.onnx_encoder._quantize", broken)
    with pytest.raises(ModelLoadError, match=r"cannot quantize .*model.onnx \(PermissionError: .*Permission denied"):
        load_onnx_encoder(DEFAULT_MODEL, int8=True)
    exported = _export_dir(resolve_model_path(DEFAULT_MODEL), DEFAULT_MODEL)
    assert (exported / INFO_FILE).is_file() and not (exported / INT8_FILE).exists()  # the export itself landed
    encoder = _cached_encoder.__wrapped__(DEFAULT_MODEL, None, "onnx-int8")
    assert isinstance(encoder, OnnxEncoder) and not encoder.runtime.endswith("-int8")
    assert "using the full-precision encoder: cannot quantize" in caplog.text
    monkeypatch.setattr("indexer.onnx_encoder._quantize", working)  # fixed: the next start makes the copy
    assert load_onnx_encoder(DEFAULT_MODEL, int8=True).runtime.endswith("-int8")
    assert (exported / INT8_FILE).is_file() and not list(exported.glob(".*tmp-*"))


def test_int8_vectors_do_not_depend_on_the_texts_beside_them() -> None:
    """int8 activations are scaled per call: a padded batch would move each vector (cosine 0.99), so none is made.

    A question gets the same vector alone, in an evaluation's list, and in a Ray Serve batch.
    """
    int8 = load_runtime_encoder(DEFAULT_MODEL, None, "onnx-int8")
    assert isinstance(int8, OnnxEncoder)
    alone = np.vstack([int8.encode([text]) for text in TEXTS])
    assert np.array_equal(int8.encode(TEXTS), alone)
    assert np.array_equal(int8.encode_tokens(TEXTS[::-1])[0], alone[::-1])


def test_token_vectors_are_one_unit_vector_per_token() -> None:
    onnx = load_onnx_encoder(DEFAULT_MODEL)
    tokens = onnx.token_strings("dropout regularises networks")
    vectors = onnx.token_vectors("dropout regularises networks")
    assert tokens[0] == "drop" and "[CLS]" not in tokens and "[SEP]" not in tokens
    assert vectors.shape == (len(tokens), 384) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * len(tokens), abs=1e-5)
