"""A faster query encoder: the same model exported to ONNX and run with ONNX Runtime.

Embedding the query is almost all of a query's cost. The sentence-transformers model is
exported once per model (about a second) into a cache directory, checked against the
torch model on probe sentences, and then run by ONNX Runtime: the same vectors (cosine
1.0 to the torch model's), several times faster on a CPU. `encode` sorts its texts by length
and runs them in batches padded to each batch's longest text, the attention mask keeping the
padding out of both the attention and the mean pooling: one text alone (a query) is never
padded, and many (a build) pad little; `encode_tokens` does the same and keeps each text's token
vectors too (the token store, a question's late interaction). Padded or not, the vectors agree within float rounding
(cosine >= 0.9999999); the check at export covers a padded batch too.

Queries are embedded by default with an int8 copy of the export (`onnx-int8`): the weights of
every matrix product quantized per output channel, activations quantized on the fly
(ONNX Runtime's dynamic quantization). A query costs about 1.6 ms of CPU instead of 4.3, and
its vector stays within cosine 0.98 of the full-precision one (0.994 on average over the
evaluation questions), which left the dev split's ranking where it was (README, Ranking).
Its activation scales are taken per call, so it embeds each text on its own: never padded,
never beside another text. Builds always embed in full precision, so an index never depends on
the quantized copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from indexer.encoder import (
    BATCH_SIZE,
    Encoder,
    Tokens,
    Vectors,
    embed_by_length,
    inner_tokens,
    length_order,
    load_encoder,
    load_sentence_transformer,
    resolve_model_path,
    unit,
    weights_stamp,
)
from indexer.errors import ModelLoadError
from indexer.model_spec import parse_model

logger = logging.getLogger(__name__)

PROBES = ("what happens when a model makes predictions?", "RAG", "naïve Bayes, régularisation and über-long words")
MIN_PROBE_COSINE = 0.9999
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"  # the quantized copy, written beside the export on first use
MIN_INT8_COSINE = 0.97  # the int8 copy against the full-precision model (torch or the export), on the probes
INFO_FILE = "export.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    """$GLOSSARY_CACHE, else ~/.cache/glossary-search."""
    return Path(os.environ.get("GLOSSARY_CACHE", Path.home() / ".cache" / "glossary-search"))


def _export_dir(model_path: str, canonical_name: str) -> Path:
    """One export per base model files and adapter (the canonical name carries the adapter's checksum)."""
    stamp = f"{weights_stamp(model_path)}|{canonical_name}"
    return cache_dir() / "onnx" / hashlib.sha256(stamp.encode()).hexdigest()[:16]


class OnnxEncoder:
    """Encodes texts with an exported copy of a sentence-transformers model (mean pooling, normalised)."""

    def __init__(
        self, directory: Path, tokenizer_file: Path, name: str, threads: int | None = None, model_file: str = ONNX_FILE
    ) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelLoadError(f"{exc.name} is not installed: pip install onnxruntime tokenizers") from exc
        info = json.loads((directory / INFO_FILE).read_text("utf-8"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on a machine shared with other work, spinning threads
        # take cores from it (and from each other) for nothing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(directory / model_file), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(info["max_seq_length"]))
        self._name = name
        self._dimension = int(info["dimension"])
        precision = "" if model_file == ONNX_FILE else "-int8"
        self._runtime = f"onnxruntime-{onnxruntime.__version__}-{directory.name}{precision}"
        # The int8 copy quantizes activations with one scale per call, taken over the whole batch: in a
        # padded batch, a text's vector would depend on the texts beside it (cosine 0.99 to its vector
        # alone). It embeds every text on its own, so that a question gets the same vector however it
        # is asked: alone, in an evaluation, or beside other users' questions in a Ray Serve batch.
        self._batch_size = 1 if precision else BATCH_SIZE

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
        """Texts sorted by length, in batches of BATCH_SIZE (the int8 copy: one by one); one text is never padded."""
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        order = length_order(texts)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            vectors[rows] = self._embed_batch([texts[row] for row in rows])
            if progress is not None:
                progress(len(rows))
        return vectors

    def encode_tokens(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[Vectors, list[Tokens]]:
        """`encode`, and each text's token ids and vectors ([CLS] and [SEP] left out) from the same forward pass."""
        return embed_by_length(texts, self._dimension, self._batch_size, self._embed_tokens, progress)

    def vocabulary(self) -> dict[str, int]:
        return dict(self._tokenizer.get_vocab())

    def _embed_tokens(self, texts: list[str]) -> tuple[Vectors, list[Tokens]]:
        hidden, mask, ids = self._hidden(texts)
        lengths = mask[:, :, 0].sum(axis=1).astype(int)
        tokens = [inner_tokens(ids[row, :length], hidden[row, :length]) for row, length in enumerate(lengths)]
        return _pooled(hidden, mask), tokens

    def _hidden(
        self, texts: list[str]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The model's token vectors of texts padded to the longest, the attention mask (texts, tokens, 1), the ids."""
        encodings = self._tokenizer.encode_batch(texts) if len(texts) > 1 else [self._tokenizer.encode(texts[0])]
        width = max(len(encoding.ids) for encoding in encodings)
        feed = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUTS}
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            feed["input_ids"][row, :length] = encoding.ids
            feed["attention_mask"][row, :length] = encoding.attention_mask
            feed["token_type_ids"][row, :length] = encoding.type_ids
        hidden: npt.NDArray[np.float32] = self._session.run(None, feed)[0]
        return hidden, feed["attention_mask"][:, :, None].astype(np.float32), feed["input_ids"]

    def _embed_batch(self, texts: list[str]) -> Vectors:
        hidden, mask, _ = self._hidden(texts)
        return _pooled(hidden, mask)

    def token_vectors(self, text: str) -> Vectors:
        """The model's vector for each token of one text (its [CLS] and [SEP] left out), each L2-normalised:
        what late interaction (search_api/late.py) compares token by token."""
        return self.encode_tokens([text])[1][0][1]

    def token_strings(self, text: str) -> list[str]:
        """The tokens of one text as the tokenizer writes them ([CLS] and [SEP] left out), matching token_vectors."""
        tokens: list[str] = self._tokenizer.encode(text).tokens
        return tokens[1:-1] if len(tokens) > 2 else tokens


def _pooled(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.float32]) -> Vectors:
    """Mean of the token vectors where the attention mask is 1, L2-normalised (sentence-transformers' pooling)."""
    return unit((hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))


def load_onnx_encoder(model_name: str, threads: int | None = None, int8: bool = False) -> OnnxEncoder:
    """The ONNX encoder of a local model (its adapter merged), exported on first use into the cache directory.

    `int8`: the quantized copy of the export, written beside it on first use (see `quantize`).
    """
    spec = parse_model(model_name)
    model_path = resolve_model_path(spec.base)
    if not Path(model_path).is_dir():
        raise ModelLoadError(f"the ONNX encoder needs a local model directory, not {spec.base!r}")
    directory = _export_dir(model_path, spec.name)
    try:
        if not (directory / INFO_FILE).is_file():
            export(spec.name, directory)
        tokenizer = Path(model_path) / "tokenizer.json"
        if int8 and not (directory / INT8_FILE).is_file():
            quantize(directory, tokenizer)
        return OnnxEncoder(directory, tokenizer, spec.name, threads, INT8_FILE if int8 else ONNX_FILE)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"cannot export or open {model_name!r} for ONNX Runtime ({exc.__class__.__name__}: {exc})"
        ) from exc


def export(model_name: str, directory: Path) -> None:
    """Export the transformer (adapter merged) to ONNX, check it against the torch model, publish it atomically."""
    import torch

    spec = parse_model(model_name)
    reference = load_sentence_transformer(spec)
    model_path = resolve_model_path(spec.base)
    transformer = reference[0].auto_model
    assert isinstance(transformer, torch.nn.Module)
    transformer.eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = transformer

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state  # type: ignore[operator,no-any-return]

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        sample = reference.tokenizer(["a sample sentence"], return_tensors="pt")
        axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing notes about padding: _check runs a padded batch too
            torch.onnx.export(
                Hidden(),
                tuple(sample[name] for name in INPUTS),
                str(tmp / ONNX_FILE),
                input_names=list(INPUTS),
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        info = {"max_seq_length": reference.max_seq_length, "dimension": reference.get_embedding_dimension()}
        (tmp / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")
        expected = reference.encode(list(PROBES), normalize_embeddings=True)
        _check(tmp, model_path, expected)
        try:  # the queries' int8 copy, made now so that a server's first start finds it
            quantize(tmp, Path(model_path) / "tokenizer.json", expected)
        except ModelLoadError as exc:  # loading it tries again, and falls back to full precision
            logger.warning("no int8 copy: %s", exc)
        _publish(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, directory: Path) -> None:
    """Move a finished export into place. Several workers may export at once on a first start:
    the first to finish wins, and the others keep its export (never removing one in use)."""
    if (directory / INFO_FILE).is_file():
        return
    if directory.exists():  # not a finished export: nothing can be using it
        shutil.rmtree(directory)
    try:
        os.replace(tmp, directory)
    except OSError:
        if not (directory / INFO_FILE).is_file():
            raise


def _check(tmp: Path, model_path: str, expected: Vectors) -> None:
    """Refuse an export whose vectors differ from the torch model's, one text at a time or in a padded batch."""
    probe = OnnxEncoder(tmp, Path(model_path) / "tokenizer.json", model_path)
    alone = np.vstack([probe.encode([text]) for text in PROBES])
    batched = probe._embed_batch(list(PROBES))  # padded to the longest probe
    cosines = np.concatenate([np.sum(alone * expected, axis=1), np.sum(batched * expected, axis=1)])
    if float(cosines.min()) < MIN_PROBE_COSINE:
        raise ModelLoadError(
            f"the ONNX export of {model_path} disagrees with the torch model (cosine {cosines.min():.4f})"
        )


def quantize(directory: Path, tokenizer: Path, probes: Vectors | None = None) -> None:
    """Write the int8 copy of an export beside it, after checking its vectors against the export's.

    Dynamic quantization of every MatMul's weights, one scale per output channel. Of the variants tried
    (per tensor, unsigned, the word embeddings too, the first layer kept whole; README, Ranking) it is
    the cheapest per query and, but for the first-layer one (a third slower), the closest to full precision.
    Workers starting together may each write it; each publishes with one rename, and the copies are equal.
    `probes`: the model's vectors of PROBES when the caller has them (an export just checked against
    them); else the export computes them.
    """
    try:
        _quantize(directory, tokenizer, probes)
    except ModelLoadError:
        raise
    except Exception as exc:  # an unwritable cache, a graph the quantizer does not take
        raise ModelLoadError(f"cannot quantize {directory / ONNX_FILE} ({exc.__class__.__name__}: {exc})") from exc


def _quantize(directory: Path, tokenizer: Path, probes: Vectors | None) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    handle, name = tempfile.mkstemp(prefix=f".{INT8_FILE}.tmp-", dir=directory)
    os.close(handle)
    tmp = Path(name)
    advice = _DropQuantizerAdvice()
    logging.getLogger().addFilter(advice)  # the quantizer warns through the root logger
    try:
        quantize_dynamic(
            directory / ONNX_FILE, tmp, per_channel=True, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8
        )
        full = OnnxEncoder(directory, tokenizer, "full").encode(list(PROBES)) if probes is None else probes
        quantized = OnnxEncoder(directory, tokenizer, "int8", model_file=tmp.name).encode(list(PROBES))
        cosine = float(np.sum(full * quantized, axis=1).min())
        if cosine < MIN_INT8_COSINE:
            raise ModelLoadError(f"the int8 copy of {directory} strays too far from it (cosine {cosine:.4f})")
        tmp.chmod(0o644)  # readable like the export beside it (mkstemp made it private)
        os.replace(tmp, directory / INT8_FILE)
    finally:
        logging.getLogger().removeFilter(advice)
        tmp.unlink(missing_ok=True)


class _DropQuantizerAdvice(logging.Filter):
    """ONNX Runtime's quantizer advises shape-inference pre-processing on every call; the copy it makes
    without it is the one measured (README, Ranking), so a build's output need not carry the advice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


QUERY_ENCODERS = ("onnx-int8", "onnx", "torch")
DEFAULT_QUERY_ENCODER = "onnx-int8"


def load_runtime_encoder(model_name: str, threads: int | None = None, kind: str = "onnx") -> Encoder:
    """The encoder for queries and builds: ONNX Runtime when it can be had (same vectors, faster), else torch.

    `onnx-int8` (queries only) is ONNX Runtime on the quantized copy; if that copy cannot be made, the
    full-precision export is used. Loaded once per process; an adapter's checksum is checked on every call.
    """
    return _cached_encoder(parse_model(model_name).name, threads, kind)


@lru_cache(maxsize=4)
def _cached_encoder(model_name: str, threads: int | None, kind: str) -> Encoder:
    if kind not in QUERY_ENCODERS:
        raise ModelLoadError(f"unknown encoder {kind!r}; use one of {', '.join(QUERY_ENCODERS)}")
    if kind == "onnx-int8":
        try:
            return load_onnx_encoder(model_name, threads, int8=True)
        except ModelLoadError as exc:
            logger.warning("using the full-precision encoder: %s", exc)
            kind = "onnx"
    if kind == "onnx":
        try:
            return load_onnx_encoder(model_name, threads)
        except ModelLoadError as exc:
            logger.warning("using the torch encoder: %s", exc)
    return load_encoder(model_name, threads)
