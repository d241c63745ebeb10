"""Domain errors of Glossary Search.

Library code raises these; each edge (CLI, HTTP) translates them into one line or one
JSON error body.

    GlossaryError
    ├── CorpusError            a glossary file cannot be read or is invalid
    │   └── CorpusValidationError   carries every Problem found
    ├── UnusableIndexError            an index directory cannot be used
    │   ├── IndexMissingError      nothing built at that path
    │   ├── IndexDamagedError      missing file, truncated file or checksum mismatch
    │   └── IndexVersionError      other format version or other model than expected
    ├── IndexWriteError        the index cannot be written where asked
    ├── ModelLoadError         the embedding model cannot be loaded offline
    └── QueryError             a query that cannot be answered as given
"""

from __future__ import annotations

from dataclasses import dataclass


class GlossaryError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus, located as precisely as the source allows."""

    file: str
    message: str
    line: int | None = None
    entry: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.entry:
            parts.append(f"entry {self.entry!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return f"{': '.join(parts)}: {self.message}"


class CorpusError(GlossaryError):
    """A glossary source cannot be read."""


class CorpusValidationError(CorpusError):
    """A glossary source has one or more problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} {noun} in the glossary:\n" + "\n".join(map(str, problems)))


class UnusableIndexError(GlossaryError):
    """An index directory cannot be used."""


class IndexMissingError(UnusableIndexError):
    """No index has been built at the given path."""


class IndexDamagedError(UnusableIndexError):
    """The index is incomplete or its files do not match their checksums."""


class IndexVersionError(UnusableIndexError):
    """The index was written by another format version or with another model."""


class IndexWriteError(GlossaryError):
    """The output location of a build cannot be written (checked before anything is embedded)."""


class ModelLoadError(GlossaryError):
    """The sentence-transformers model could not be loaded without a network."""


class QueryError(GlossaryError):
    """A query that cannot be answered as given (empty, too long, bad k)."""
