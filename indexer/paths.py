"""Where the bundled glossary lives and where indexes go by default."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = PROJECT_ROOT / "corpus" / "glossary"
BUNDLED_QUERIES = PROJECT_ROOT / "corpus" / "eval_queries.jsonl"


def default_index_dir() -> Path:
    """$GLOSSARY_INDEX, else `.index/` in the project checkout (git ignores it)."""
    return Path(os.environ.get("GLOSSARY_INDEX", PROJECT_ROOT / ".index"))
