"""Glossary Search indexer: corpus schema, loading, validation, embedding and the index format."""

from indexer.build import BuildReport, build_index
from indexer.encoder import DEFAULT_MODEL, Encoder, SentenceTransformerEncoder, load_encoder
from indexer.schema import Entry
from indexer.validation import load_glossary

__all__ = [
    "DEFAULT_MODEL",
    "BuildReport",
    "Encoder",
    "Entry",
    "SentenceTransformerEncoder",
    "build_index",
    "load_encoder",
    "load_glossary",
]
