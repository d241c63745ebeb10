"""Read glossary sources (YAML, JSON Lines, CSV) into raw records that know their origin.

A raw record is a plain dict plus where it came from (file, line, and the line of each
field where the format tells us), so that validation can point at the exact place.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer.errors import CorpusError, Problem
from indexer.schema import LIST_FIELDS, slugify

YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (*YAML_SUFFIXES, ".jsonl", ".csv")
CSV_LIST_SEPARATOR = "|"


@dataclass
class RawEntry:
    """An entry as found in a file, before validation."""

    data: dict[str, Any]
    file: str
    line: int | None = None
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, field_name: str | None) -> int | None:
        if field_name is None:
            return self.line
        return self.field_lines.get(field_name, self.line)


@dataclass
class LoadResult:
    """Every raw entry that could be read, and every problem met while reading."""

    entries: list[RawEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def source_files(source: Path) -> list[Path]:
    """The corpus files a source names: the file itself, or a directory's files, sorted."""
    if not source.exists():
        raise CorpusError(f"{source}: no such file or directory")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            raise CorpusError(f"{source}: no {', '.join(SUFFIXES)} files in this directory")
        return files
    if source.suffix not in SUFFIXES:
        raise CorpusError(f"{source}: unsupported file type {source.suffix!r}; use {', '.join(SUFFIXES)}")
    return [source]


def load_source(source: Path) -> LoadResult:
    """Read every entry of a file or directory, collecting problems instead of stopping."""
    result = LoadResult()
    for path in source_files(source):
        reader = _read_yaml if path.suffix in YAML_SUFFIXES else _READERS[path.suffix]
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is dropped
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(Problem(str(path), f"cannot read file: {exc}"))
            continue
        for item in reader(str(path), text):
            if isinstance(item, Problem):
                result.problems.append(item)
            else:
                _derive_id(item)
                result.entries.append(item)
    return result


def _derive_id(raw: RawEntry) -> None:
    term = raw.data.get("term")
    if "id" not in raw.data and isinstance(term, str) and term.strip():
        raw.data["id"] = slugify(term)


def _compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (it knows each line) and the data, from one parse: libyaml's when PyYAML has it.

    A file libyaml refuses is parsed again by the pure-Python parser, whose messages the problems quote.
    """
    loaders: list[type[yaml.CSafeLoader] | type[yaml.SafeLoader]] = [yaml.SafeLoader]
    if getattr(yaml, "__with_libyaml__", False):
        loaders.insert(0, yaml.CSafeLoader)
    for number, loader_class in enumerate(loaders, start=1):
        loader = loader_class(text)
        try:
            document = loader.get_single_node()
            return document, loader.construct_document(document) if document is not None else None
        except yaml.YAMLError:
            if number == len(loaders):
                raise
        finally:
            loader.dispose()
    raise AssertionError("unreachable")  # pragma: no cover


def _read_yaml(file: str, text: str) -> Iterator[RawEntry | Problem]:
    try:
        document, data = _compose_and_load(text)
    except yaml.YAMLError as exc:
        yield _yaml_problem(file, exc)
        return
    if data is None:
        return
    if not isinstance(data, list) or not isinstance(document, yaml.SequenceNode):
        yield Problem(file, "the top level must be a list of entries (each item starts with '- ')", 1)
        return
    for node, item in zip(document.value, data, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
            yield Problem(file, "each entry must be a mapping of field: value", line)
            continue
        field_lines = {
            str(key.value): key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)
        }
        yield RawEntry({str(k): v for k, v in item.items()}, file, line, field_lines)


def _yaml_problem(file: str, exc: yaml.YAMLError) -> Problem:
    """Where a YAML error is: where it was found, or where the unclosed thing began when the file just ended."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context_mark is not None and reason == "found unexpected end of stream":
        # An unclosed quote or bracket: the end of the file is not where to look.
        return Problem(file, f"malformed YAML: {context} that starts here is never closed", context_mark.line + 1)
    mark = problem_mark or context_mark
    return Problem(file, f"malformed YAML: {reason}", line=mark.line + 1 if mark is not None else None)


def _read_jsonl(file: str, text: str) -> Iterator[RawEntry | Problem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(file, f"malformed JSON: {exc.msg} (column {exc.colno})", number)
            continue
        if not isinstance(item, dict):
            yield Problem(file, "each line must be a JSON object", number)
            continue
        yield RawEntry(item, file, number)


def _read_csv(file: str, text: str) -> Iterator[RawEntry | Problem]:
    reader = csv.DictReader(text.splitlines())
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        yield Problem(file, f"malformed CSV header: {exc}", 1)
        return
    missing = [name for name in ("term", "definition") if name not in header]
    if missing:
        yield Problem(file, f"the header row lacks the column(s) {', '.join(missing)}", 1)
        return
    for row in _csv_rows(file, reader):
        if isinstance(row, Problem):
            yield row
            return
        number = reader.line_num
        if None in row:
            yield Problem(file, "this row has more cells than the header has columns", number)
            continue
        data: dict[str, Any] = {}
        for key, value in row.items():
            value = (value or "").strip()
            if not value:
                continue
            if key in LIST_FIELDS:
                data[key] = [part.strip() for part in value.split(CSV_LIST_SEPARATOR) if part.strip()]
            else:
                data[key] = value
        yield RawEntry(data, file, number)


def _csv_rows(file: str, reader: csv.DictReader[str]) -> Iterator[dict[str | Any, str | Any] | Problem]:
    """The rows of a CSV file, or, at the first row the csv module cannot read, a located problem."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # e.g. a cell longer than csv.field_size_limit() (131,072 characters), or a stray NUL byte
            # reader.line_num counts the lines read before the failing row started
            yield Problem(file, f"malformed CSV: {exc}; the rest of this file is not read", reader.line_num + 1)
            return
        yield row


_READERS = {".jsonl": _read_jsonl, ".csv": _read_csv}
