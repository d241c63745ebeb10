"""Every validation error names its file, line, entry and field; all are reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import CorpusError, CorpusValidationError
from indexer.validation import load_glossary

DATA = Path(__file__).parent.parent / "data"


def problems(tmp_path: Path, name: str, text: str, complete: bool = False) -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusValidationError) as caught:
        load_glossary(path, complete=complete)
    return [str(p) for p in caught.value.problems]


def test_test_glossary_is_complete() -> None:
    entries = load_glossary(DATA / "mini.yaml", complete=True)
    assert [e.id for e in entries][:3] == ["inference", "training", "overfitting"]


def test_missing_and_empty_fields_are_located(tmp_path: Path) -> None:
    text = "- id: a\n  term: A\n- id: b\n  term: '  '\n  definition: B is b.\n"
    assert problems(tmp_path, "g.yaml", text) == [
        f"{tmp_path}/g.yaml:1: entry 'a': field 'definition': required field is missing",
        f"{tmp_path}/g.yaml:4: entry 'b': field 'term': is empty",
    ]


def test_unknown_field_duplicate_id_and_alias_claimed_twice(tmp_path: Path) -> None:
    text = (
        "- {id: a, term: A, definition: A is a., aliases: [x]}\n"
        "- {id: a, term: B, definition: B is b.}\n"
        "- {id: c, term: C, definition: C is c., aliases: [X], colour: red}\n"
        "- {id: d, term: D, definition: D is d., aliases: [a]}\n"
    )
    found = problems(tmp_path, "g.yaml", text)
    assert any("g.yaml:3: entry 'c': field 'colour': unknown field" in p for p in found)
    assert f"{tmp_path}/g.yaml:2: entry 'a': field 'id': duplicate id, already used at {tmp_path}/g.yaml:1" in found
    assert f"{tmp_path}/g.yaml:4: entry 'd': field 'aliases': alias 'a' is already claimed by entry 'a'" in found
    assert len(found) == 3  # c's alias X is fine once its unknown field makes it invalid


def test_alias_claimed_by_two_valid_entries(tmp_path: Path) -> None:
    text = "- {id: a, term: A, definition: A., aliases: [RAG]}\n- {id: b, term: B, definition: B., aliases: [rag]}\n"
    assert problems(tmp_path, "g.yaml", text) == [
        f"{tmp_path}/g.yaml:2: entry 'b': field 'aliases': alias 'rag' is already claimed by entry 'a'"
    ]


def test_unknown_and_self_related_ids(tmp_path: Path) -> None:
    text = "- id: a\n  term: A\n  definition: A.\n  related: [a, nope]\n"
    assert problems(tmp_path, "g.yaml", text) == [
        f"{tmp_path}/g.yaml:4: entry 'a': field 'related': an entry cannot be related to itself",
        f"{tmp_path}/g.yaml:4: entry 'a': field 'related': unknown related id 'nope'",
    ]


def test_malformed_yaml_reports_its_line(tmp_path: Path) -> None:
    text = "- id: a\n  term: A\n  definition: [unclosed\n- id: b\n"
    (found,) = problems(tmp_path, "g.yaml", text)
    assert found.startswith(f"{tmp_path}/g.yaml:4: malformed YAML")


def test_problems_across_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("- {id: a, term: A}\n")
    (tmp_path / "b.yaml").write_text("- {id: 'Not A Slug', term: B, definition: B.}\n")
    with pytest.raises(CorpusValidationError) as caught:
        load_glossary(tmp_path)
    assert [(p.file.rsplit("/", 1)[-1], p.field) for p in caught.value.problems] == [
        ("a.yaml", "definition"),
        ("b.yaml", "id"),
    ]


def test_complete_mode_demands_every_field_and_bounds(tmp_path: Path) -> None:
    text = "- {id: a, term: A, definition: Too short., related: []}\n"
    found = problems(tmp_path, "g.yaml", text, complete=True)
    assert any("field 'analogy': required in the bundled glossary" in p for p in found)
    assert any("field 'related': has 0 items; expected 3 to 6" in p for p in found)
    assert any("field 'definition': is 10 characters long; expected 40 to 400" in p for p in found)
    assert any("field 'described_as': has 0 items; expected 3 to 6" in p for p in found)
    described = "- {id: a, term: A, definition: A., described_as: [too short, also short, short too]}\n"
    found = problems(tmp_path, "g.yaml", described, complete=True)
    assert any("field 'described_as': is 9 characters long; expected 20 to 200" in p for p in found)
    (entry,) = load_glossary(tmp_path / "g.yaml")  # a glossary a user brings: no bounds on its descriptions
    assert entry.described_as == ("too short", "also short", "short too")


def test_jsonl_with_derived_ids(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(
        '{"term": "Bayes\' theorem", "definition": "A rule."}\n\n{"term": "Prior", "definition": "A belief."}\n'
    )
    assert [e.id for e in load_glossary(path)] == ["bayes-theorem", "prior"]


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    assert problems(tmp_path, "g.jsonl", '{"term": "A", "definition": "a"}\n{oops\n[1]\n') == [
        f"{tmp_path}/g.jsonl:2: malformed JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{tmp_path}/g.jsonl:3: each line must be a JSON object",
    ]


def test_csv_with_list_columns(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(
        'term,definition,aliases,described_as\nRetrieval,"Finding things, fast.",RAG|search,finding the right page|'
        "looking things up\n"
    )
    (entry,) = load_glossary(path)
    assert (entry.id, entry.definition, entry.aliases) == ("retrieval", "Finding things, fast.", ("RAG", "search"))
    assert entry.described_as == ("finding the right page", "looking things up")


def test_csv_without_required_columns(tmp_path: Path) -> None:
    assert problems(tmp_path, "g.csv", "name,meaning\nA,a\n") == [
        f"{tmp_path}/g.csv:1: the header row lacks the column(s) term, definition"
    ]


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        load_glossary(tmp_path / "missing.yaml")
    (tmp_path / "g.txt").write_text("x")
    with pytest.raises(CorpusError, match=r"unsupported file type '\.txt'"):
        load_glossary(tmp_path / "g.txt")
    (tmp_path / "empty.yaml").write_text("")
    assert problems(tmp_path, "empty.yaml", "") == [
        f"{tmp_path}/empty.yaml: no entries found; a glossary needs at least one"
    ]


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("term,definition\nRetrieval,Finding things.\n".encode("utf-8-sig"))
    (entry,) = load_glossary(path)
    assert (entry.id, entry.definition) == ("retrieval", "Finding things.")


def test_csv_cell_over_the_csv_modules_limit_is_a_located_problem(tmp_path: Path) -> None:
    huge = "x" * 131_073
    text = f'term,definition\nA,"A is a."\nB,"{huge}"\n'
    (found,) = problems(tmp_path, "g.csv", text)
    assert found.startswith(f"{tmp_path}/g.csv:3: malformed CSV: field larger than field limit (131072)")


def test_unclosed_yaml_quote_is_reported_where_it_opens(tmp_path: Path) -> None:
    text = "- id: a\n  term: 'A\n  definition: x\n- id: b\n  term: B\n  definition: y\n"
    assert problems(tmp_path, "g.yaml", text) == [
        f"{tmp_path}/g.yaml:2: malformed YAML: while scanning a quoted scalar that starts here is never closed"
    ]
