"""Short pieces of matched text to show under a hit."""

from __future__ import annotations

import re
from functools import lru_cache

from indexer.lexical import tokenize

MAX_SNIPPET = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def snippet(text: str, query: str, limit: int = MAX_SNIPPET) -> str:
    """The sentence of `text` sharing most words with the query, cut to `limit` characters."""
    sentences = _sentences(text)
    wanted = set(tokenize(query))
    best = max(sentences, key=lambda s: len(wanted & s[1]))[0] if wanted else sentences[0][0]
    return shorten(best, limit)


@lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The sentences of a text with their tokens (cached: entry texts repeat across queries)."""
    parts = [s for s in _SENTENCE_END.split(text) if s] or [text]
    return tuple((part, frozenset(tokenize(part))) for part in parts)


def shorten(text: str, limit: int = MAX_SNIPPET) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
