"""BM25 over one document per entry; the tokenizer is shared by indexing and querying."""

from __future__ import annotations

import re
from functools import lru_cache

import bm25s
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.schema import Entry
from indexer.texts import lexical_document

# English stop words including question words ("what", "how"), which carry no topic.
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=16384)
def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased, stop-word-free, stemmed tokens (the same for documents and queries).

    Cached: a query's tokens are needed for BM25 and again for each hit's snippet.
    """
    words = [word for word in _TOKEN.findall(text.lower()) if word not in _STOPWORDS]
    return tuple(_stemmer().stemWords(words))


def build_lexical(entries: list[Entry]) -> bm25s.BM25:
    """A BM25 index whose document i is entry i."""
    retriever = bm25s.BM25()
    corpus = [list(tokenize(lexical_document(entry))) for entry in entries]
    retriever.index(corpus, show_progress=False)
    return retriever


def build_names_lexical(entries: list[Entry]) -> bm25s.BM25:
    """A BM25 index whose document i is entry i's names (term and aliases) alone."""
    retriever = bm25s.BM25()
    corpus = [list(tokenize(" ".join(entry.names()))) or ["_"] for entry in entries]
    retriever.index(corpus, show_progress=False)
    return retriever
