"""Glossary Search: reading an index, ranking, the HTTP API and the CLI."""

from search_api.fusion import FusionWeights
from search_api.hits import Answer, Hit
from search_api.searcher import Searcher

__all__ = ["Answer", "FusionWeights", "Hit", "Searcher"]
