"""The shape of one glossary entry, as read from a corpus file."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SLUG_PATTERN)]

PROSE_FIELDS: tuple[str, ...] = ("definition", "plain_english", "analogy", "example", "usage")
LIST_FIELDS: tuple[str, ...] = ("aliases", "misconceptions", "described_as", "related")
ALL_FIELDS: tuple[str, ...] = (
    "id",
    "term",
    "aliases",
    "category",
    *PROSE_FIELDS,
    "misconceptions",
    "described_as",
    "related",
)


def slugify(text: str) -> str:
    """Turn a term into a stable id: `Bayes' theorem` -> `bayes-theorem`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = ascii_text.lower().replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


class Entry(BaseModel):
    """One glossary entry. `term` and `definition` are required; the rest is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    term: Text
    definition: Text
    aliases: tuple[Text, ...] = ()
    category: Text | None = None
    plain_english: Text | None = None
    analogy: Text | None = None
    example: Text | None = None
    usage: Text | None = None
    misconceptions: tuple[Text, ...] = ()
    described_as: tuple[Text, ...] = ()
    related: tuple[Slug, ...] = ()

    @field_validator("term", "definition", "plain_english", "analogy", "example", "usage")
    @classmethod
    def _single_spaced(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())

    @field_validator("aliases", "misconceptions", "described_as")
    @classmethod
    def _single_spaced_items(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(" ".join(item.split()) for item in value)

    def names(self) -> tuple[str, ...]:
        """The term followed by its aliases."""
        return (self.term, *self.aliases)
