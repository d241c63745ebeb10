"""Query embeddings batched across concurrent requests, with Ray Serve's `@serve.batch`.

The app answers each search in a worker thread, and `Searcher.answer` embeds its one query
with `encoder.encode_tokens([query])` (its vector and, for late interaction, its tokens; or
`encoder.encode([query])` on an index without a token store). A `BatchingEncoder` in the
encoder's place hands that query to the server's event loop, where `serve.batch` gathers the
queries of the searches running at that moment (up to `max_batch_size`, waiting at most
`batch_wait_s` for more) into one model call, and each thread gets its own row back. Nothing
else in the app changes: ranking still runs per request, in its thread.

A batch of one is embedded exactly as a single process embeds it; a larger batch is one padded
model call (`encode_tokens`: ONNX Runtime's padded batch, or sentence-transformers' own batching), whose vectors
equal the one-at-a-time vectors within float rounding (1e-6). The int8 query encoder (the
default) takes its activation scales per call, so it embeds a batch's queries one by one, each
exactly as alone: its batches save the hand-offs between threads, not model work
(`GLOSSARY_QUERY_ENCODER=onnx` makes a batch one padded call).

Ray is imported here only; the plain server never imports this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio.to_thread
import numpy as np

from indexer.encoder import Encoder, Tokens, Vectors


def embed_together(encoder: Encoder, texts: Sequence[str]) -> list[tuple[Vectors, Tokens]]:
    """One model call for several texts: each one's vector and tokens (late interaction).

    One text is embedded exactly as `Searcher.answer` embeds it alone; several, as one padded call
    (ONNX Runtime in full precision, or sentence-transformers' own batching; the int8 copy one by one).
    """
    vectors, tokens = encoder.encode_tokens(texts)
    return list(zip(vectors, tokens, strict=True))


class BatchingEncoder:
    """An `Encoder` whose one-text calls from worker threads are embedded together on the event loop."""

    def __init__(
        self,
        inner: Encoder,
        loop: asyncio.AbstractEventLoop,
        max_batch_size: int = 8,
        batch_wait_s: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        from ray import serve

        self.inner = inner
        self._loop = loop
        self._on_batch = on_batch
        # Decorating the bound method gives this encoder a queue of its own (a class-level
        # decorator would share one queue, and so one model, among every instance).
        self._batched = serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_s)(self._embed_batch)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def runtime(self) -> str:
        return self.inner.runtime

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> Vectors:
        """One text from a worker thread joins the current batch; anything else is embedded directly."""
        if self._joins_batch(texts):
            return self.encode_tokens(texts, progress)[0]
        return self.inner.encode(texts, progress)

    def encode_tokens(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> tuple[Vectors, list[Tokens]]:
        """One text from a worker thread joins the current batch; anything else is embedded directly."""
        if not self._joins_batch(texts):
            return self.inner.encode_tokens(texts, progress)
        row, tokens = asyncio.run_coroutine_threadsafe(self._batched(texts[0]), self._loop).result()
        if progress is not None:
            progress(1)
        return np.asarray(row, dtype=np.float32).reshape(1, -1), [tokens]

    def vocabulary(self) -> dict[str, int]:
        return self.inner.vocabulary()

    def _joins_batch(self, texts: Sequence[str]) -> bool:
        return len(texts) == 1 and not self._on_loop_thread() and not self._loop.is_closed()

    def _on_loop_thread(self) -> bool:
        """True when called on the event loop's own thread (the app's warm-up), which must not wait on itself."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop runs in this thread: a worker thread
            return False

    async def _embed_batch(self, texts: list[str]) -> list[tuple[Vectors, Tokens]]:
        if self._on_batch is not None:
            self._on_batch(len(texts))
        return await anyio.to_thread.run_sync(embed_together, self.inner, texts)
