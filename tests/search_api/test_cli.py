"""The `glossary` command, driven through Typer's CliRunner with the real model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.storage import VECTORS, read_index
from search_api.cli import app, progress_log

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"
runner = CliRunner()


def test_validate_bundled_glossary_passes() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ") and " entries in " in result.stdout


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("- {id: a, term: A}\n- {id: b, term: B, definition: B., related: [zzz]}\n")
    result = runner.invoke(app, ["validate", str(source)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{source}:1: entry 'a': field 'definition': required field is missing",
        f"{source}:2: entry 'b': field 'related': unknown related id 'zzz'",
    ]
    assert "2 problem(s) found." in result.stderr


def test_index_then_search_as_text_and_json(tmp_path: Path, encoder: object) -> None:
    out = tmp_path / "index"
    first = runner.invoke(app, ["index", str(MINI), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "Indexed 8 entries as 64 vectors" in first.stdout and "embedded 64 texts" in first.stdout
    assert "embedded 64/64 texts (" in first.stderr  # not a terminal: progress is logged, not drawn
    assert "loading the model" in first.stderr and "writing the index (64 vectors)" in first.stderr
    stored = read_index(out).tokens
    assert stored is not None and f"token store: {len(stored.vectors):,} token vectors" in first.stdout
    again = runner.invoke(app, ["index", str(MINI), "--out", str(out)])
    assert "(up to date)" in again.stdout and f"token store: {len(stored.vectors):,}" in again.stdout

    text = runner.invoke(
        app, ["search", "what happens when a model makes predictions?", "--index", str(out), "--k", "2"]
    )
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("1. Inference  [inference]  score ")

    raw = runner.invoke(app, ["search", "backprop", "--index", str(out), "--json"])
    payload = json.loads(raw.stdout)
    assert payload["query"] == "backprop" and payload["hits"][0]["id"] == "backpropagation"
    assert set(payload["hits"][0]) >= {"id", "term", "score", "matched_field", "snippet", "definition"}
    assert payload["read_as"] is None


def test_search_says_how_it_read_a_misspelt_name(mini_index: Path) -> None:
    text = runner.invoke(app, ["search", "why does dropuot help", "--index", str(mini_index), "--k", "1"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("Read as 'why does dropout help'.\n1. Dropout  [dropout]")
    raw = runner.invoke(app, ["search", "why does dropuot help", "--index", str(mini_index), "--json"])
    assert json.loads(raw.stdout)["read_as"] == "why does dropout help"


def test_search_and_serve_refuse_a_missing_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for command in (["search", "dropout"], ["serve"], ["serve", "--ray"]):
        result = runner.invoke(app, [*command, "--index", str(tmp_path / "none")])
        assert result.exit_code == 1
        assert f"error: no index at {tmp_path / 'none'}; build one with: glossary index --out" in result.stderr
        assert "serving" not in result.stderr  # nothing started


def test_replicas_are_for_ray(mini_index: Path) -> None:
    result = runner.invoke(app, ["serve", "--index", str(mini_index), "--replicas", "2"])
    assert result.exit_code == 2 and "error: --replicas is for --ray; without it, use --workers" in result.stderr


def test_search_refuses_a_damaged_index(tmp_path: Path, mini_index: Path) -> None:
    damaged = tmp_path / "index"
    shutil.copytree(mini_index, damaged)
    (damaged / VECTORS).write_bytes((damaged / VECTORS).read_bytes()[:100])
    result = runner.invoke(app, ["search", "dropout", "--index", str(damaged)])
    assert result.exit_code == 1
    assert "does not match its checksum" in result.stderr and "rebuild it with: glossary index" in result.stderr


def test_search_rejects_an_empty_query(mini_index: Path) -> None:
    result = runner.invoke(app, ["search", "  ", "--index", str(mini_index)])
    assert result.exit_code == 1 and "the query is empty" in result.stderr


def test_search_with_no_answer_says_so(mini_index: Path) -> None:
    result = runner.invoke(app, ["search", "zzqx vvbn", "--index", str(mini_index)])
    assert result.exit_code == 0 and result.stdout.startswith("No entry answers 'zzqx vvbn'.")


def test_fusion_weights_come_from_the_environment(mini_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def hits() -> list[str]:
        result = runner.invoke(app, ["search", "dropout", "--index", str(mini_index), "--json"])
        return [hit["id"] for hit in json.loads(result.stdout)["hits"]]

    assert hits() == ["dropout"]  # nothing else clears the default floor
    monkeypatch.setenv("GLOSSARY_FUSION", '{"floor": 0.0}')
    assert hits()[0] == "dropout" and len(hits()) == 5
    monkeypatch.setenv("GLOSSARY_FUSION", '{"flor": 1}')
    bad = runner.invoke(app, ["search", "dropout", "--index", str(mini_index)])
    assert bad.exit_code == 2
    assert "error: invalid setting: GLOSSARY_FUSION: Value error, unknown fusion weight(s) flor" in bad.stderr


def test_index_into_an_unwritable_place_is_one_line_before_embedding(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way")
    result = runner.invoke(app, ["index", str(MINI), "--out", str(tmp_path / "a-file" / "index")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: cannot write the index at {tmp_path}/a-file/index: Not a directory; "
        "choose another --out (or GLOSSARY_INDEX)"
    ]


def test_tune_writes_an_adapter_that_index_can_name(tmp_path: Path, encoder: object) -> None:
    """A real (one-step) training run from the CLI, then an index queried through the adapter."""
    adapter = tmp_path / "adapter"
    result = runner.invoke(app, ["tune", "--out", str(adapter), "--glossary", str(MINI), "--wordnet-pairs", "0"])
    assert result.exit_code == 0, result.output
    assert f"Adapter written to {adapter}" in result.output
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    query_model = f"sentence-transformers/all-MiniLM-L6-v2+{adapter}"
    out = tmp_path / "index"
    built = runner.invoke(app, ["index", str(MINI), "--out", str(out), "--query-model", query_model])
    assert built.exit_code == 0, built.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["query_model"].startswith(query_model + "@")
    found = runner.invoke(app, ["search", "switching off random neurons during training", "--index", str(out)])
    assert found.exit_code == 0 and "[dropout]" in found.output.splitlines()[0]


def test_tune_without_wordnet_data_says_how_to_get_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tune", "--out", str(tmp_path / "a"), "--glossary", str(MINI), "--wordnet", "/nope"])
    assert result.exit_code == 1 and "apt-get install wordnet-base" in result.output
    assert not (tmp_path / "a").exists()


def test_progress_log_estimates_time_left_from_the_lengths_left(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short texts are embedded first: 90 of 100 texts done is a tenth of the work, not nine tenths."""
    clock = iter([0.0, 60.0])
    monkeypatch.setattr("search_api.cli.time.monotonic", lambda: next(clock))
    advance = progress_log([10] * 90 + [900] * 10, every=0)
    advance(90)
    assert capsys.readouterr().err.strip() == "embedded 90/100 texts (2 texts/s, about 10 min left)"
