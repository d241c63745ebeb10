"""BM25 over one document per entry; the tokenizer is shared by indexing and querying."""

from __future__ import annotations

from functools import lru_cache

import bm25s
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from indexer.schema import Entry
from indexer.texts import lexical_document

# English stop words including question words ("what", "how"), which carry no topic.
_STOPWORDS = sorted(STOPWORDS_EN_PLUS)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed tokens (the same for documents and queries)."""
    tokens = bm25s.tokenize(text, stopwords=_STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False)
    return list(tokens[0]) if tokens else []


def build_lexical(entries: list[Entry]) -> bm25s.BM25:
    """A BM25 index whose document i is entry i."""
    retriever = bm25s.BM25()
    corpus = [tokenize(lexical_document(entry)) for entry in entries]
    retriever.index(corpus, show_progress=False)
    return retriever
