"""Turn raw records into validated entries, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from indexer.errors import CorpusValidationError, Problem
from indexer.loading import RawEntry, load_source
from indexer.schema import PROSE_FIELDS, Entry

# Bounds that the bundled glossary keeps (characters); user glossaries are not held to them.
COMPLETE_LENGTHS: dict[str, tuple[int, int]] = {
    "definition": (40, 400),
    "plain_english": (100, 800),
    "analogy": (60, 600),
    "example": (60, 700),
    "usage": (60, 700),
    "misconceptions": (30, 400),
    "described_as": (20, 200),
}
COMPLETE_COUNTS: dict[str, tuple[int, int]] = {"misconceptions": (1, 3), "described_as": (3, 6), "related": (3, 6)}


@dataclass(frozen=True)
class Located:
    """A validated entry and where it was read from."""

    entry: Entry
    raw: RawEntry


def load_glossary(source: Path, *, complete: bool = False) -> list[Entry]:
    """Load and validate a glossary; raise CorpusValidationError listing every problem.

    `complete=True` also demands what the bundled glossary promises: every field filled,
    text lengths within bounds, one to three misconceptions, three to six descriptions and three to
    six related ids.
    """
    loaded = load_source(source)
    problems = list(loaded.problems)
    if not loaded.entries and not problems:
        problems.append(Problem(str(source), "no entries found; a glossary needs at least one"))
    located: list[Located] = []
    for raw in loaded.entries:
        entry = _parse(raw, problems)
        if entry is not None:
            located.append(Located(entry, raw))
    problems += _duplicate_ids(located)
    problems += _claimed_names(located)
    problems += _related_ids(located)
    if complete:
        for item in located:
            problems += _completeness(item)
    if problems:
        raise CorpusValidationError(problems)
    return [item.entry for item in located]


def _problem(raw: RawEntry, message: str, field: str | None = None) -> Problem:
    entry = raw.data.get("id") if isinstance(raw.data.get("id"), str) else None
    return Problem(raw.file, message, raw.line_of(field), entry, field)


def _parse(raw: RawEntry, problems: list[Problem]) -> Entry | None:
    try:
        return Entry.model_validate(raw.data)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else None
            problems.append(_problem(raw, _describe(error), field))
        return None


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    kind, loc = error["type"], error["loc"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(Entry.model_fields)})"
    if kind == "string_too_short":
        return "is empty" if len(loc) == 1 else f"item {loc[1]} is empty"
    if kind == "string_pattern_mismatch":
        return "must be a slug: lowercase letters, digits and single hyphens (e.g. 'bias-math')"
    return str(error["msg"])


def _duplicate_ids(located: Iterable[Located]) -> list[Problem]:
    first: dict[str, Located] = {}
    problems = []
    for item in located:
        seen = first.setdefault(item.entry.id, item)
        if seen is not item:
            where = f"{seen.raw.file}:{seen.raw.line}"
            problems.append(_problem(item.raw, f"duplicate id, already used at {where}", "id"))
    return problems


def _claimed_names(located: Iterable[Located]) -> list[Problem]:
    owner: dict[str, str] = {}
    items = list(located)
    for item in items:
        owner.setdefault(item.entry.term.casefold(), item.entry.id)
    problems = []
    for item in items:
        for alias in item.entry.aliases:
            claimed = owner.setdefault(alias.casefold(), item.entry.id)
            if claimed != item.entry.id:
                message = f"alias {alias!r} is already claimed by entry {claimed!r}"
                problems.append(_problem(item.raw, message, "aliases"))
    return problems


def _related_ids(located: Iterable[Located]) -> list[Problem]:
    items = list(located)
    known = {item.entry.id for item in items}
    problems = []
    for item in items:
        for related in item.entry.related:
            if related == item.entry.id:
                problems.append(_problem(item.raw, "an entry cannot be related to itself", "related"))
            elif related not in known:
                problems.append(_problem(item.raw, f"unknown related id {related!r}", "related"))
    return problems


def _completeness(item: Located) -> list[Problem]:
    entry, problems = item.entry, []
    for name in (*PROSE_FIELDS, "category"):
        if getattr(entry, name) is None:
            problems.append(_problem(item.raw, "required in the bundled glossary", name))
    for name, (low, high) in COMPLETE_COUNTS.items():
        count = len(getattr(entry, name))
        if not low <= count <= high:
            problems.append(_problem(item.raw, f"has {count} items; expected {low} to {high}", name))
    for name, (low, high) in COMPLETE_LENGTHS.items():
        value = getattr(entry, name)
        for text in value if isinstance(value, tuple) else [value]:
            if text is not None and not low <= len(text) <= high:
                message = f"is {len(text)} characters long; expected {low} to {high}"
                problems.append(_problem(item.raw, message, name))
    return problems
