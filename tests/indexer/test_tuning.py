"""`glossary tune`: training examples, batches, and a query adapter that indexes name and query encoders run."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_index
from indexer.encoder import SentenceTransformerEncoder
from indexer.errors import IndexVersionError, ModelLoadError
from indexer.model_spec import BASE_MODEL, adapter_checksum, canonical_model, parse_model
from indexer.onnx_encoder import load_onnx_encoder
from indexer.storage import read_index
from indexer.texts import embedding_texts
from indexer.tuning import (
    Example,
    Targets,
    TuneSettings,
    batches,
    glossary_targets,
    read_words,
    train_adapter,
    wordnet_targets,
)
from indexer.validation import load_glossary
from search_api.searcher import Searcher
from tests.conftest import MINI

# Lines in WordNet 3.0's data-file format (data.noun, data.adj), examples after the gloss.
WORDNET_LINES = "\n".join(
    [
        "  1 This software and database is being provided to you, the LICENSEE, by",
        "00077981 04 n 02 catching 2 contracting 0 003 @ 00041899 n 0000 | becoming infected; "
        '"catching cold is sometimes unavoidable"',
        "00110415 04 n 01 bank_shot 0 001 @ 00110057 n 0000 | a basketball shot that bounces off of the "
        "backboard before passing through the hoop",
        '00148078 00 s 03 crafty 0 sly 0 tricksy 0 000 | marked by skill in deception; "a crafty and deceitful ploy"',
    ]
)


def test_glossary_targets_lead_every_description_to_the_entrys_other_texts() -> None:
    entries = load_glossary(MINI, complete=True)
    targets = glossary_targets(entries)
    assert len(targets.texts) == sum(len(embedding_texts(e)) for e in entries)
    entry = next(e for e in entries if e.id == "dropout")
    rows = {targets.texts.index(text) for _, text in embedding_texts(entry)}
    mine = [x for x in targets.examples if set(x.answers) <= rows]
    assert {x.anchor for x in mine} == {
        entry.plain_english,
        entry.analogy,
        entry.example,
        entry.usage,
        *entry.misconceptions,
        entry.definition,
    }
    for example in mine:
        (own,) = example.hidden
        assert example.anchor in targets.texts[own] and own not in example.answers  # its own text is no answer
        assert set(example.answers) | {own} == rows


def test_wordnet_targets_drop_examples_and_held_out_words(tmp_path: Path) -> None:
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        (tmp_path / name).write_text(WORDNET_LINES if name == "data.noun" else "", encoding="latin-1")
    targets = wordnet_targets(tmp_path, {"tricksy"}, limit=10, seed=0)
    assert sorted((x.anchor, targets.texts[x.answers[0]]) for x in targets.examples) == [
        ("a basketball shot that bounces off of the backboard before passing through the hoop", "bank shot"),
        ("becoming infected", "catching, contracting"),
    ]
    with pytest.raises(ModelLoadError, match="apt-get install wordnet-base"):
        wordnet_targets(tmp_path / "missing", set(), limit=10, seed=0)


def test_held_out_words_read_from_a_list_or_a_query_file(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("Tricksy\n\nworshipful\n")
    (tmp_path / "queries.jsonl").write_text('{"query": "showing great reverence", "expected": "worshipful"}\n')
    assert list(read_words(tmp_path / "words.txt")) == ["tricksy", "worshipful"]
    assert list(read_words(tmp_path / "queries.jsonl")) == ["worshipful"]


def test_batches_keep_every_example_once_and_never_mix_tables() -> None:
    tables = [
        Targets("a", ["t"], [Example(f"a{i}", (0,)) for i in range(40)]),
        Targets("b", ["u"], [Example(f"b{i}", (0,)) for i in range(30)]),
    ]
    out = batches(tables, 8, random.Random(0))
    assert all(len({x.anchor[0] for x in batch}) == 1 and x.anchor[0] == "ab"[n] for n, batch in out for x in batch)
    assert sorted(x.anchor for _, batch in out for x in batch) == sorted(x.anchor for t in tables for x in t.examples)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) training run on the mini glossary: two steps."""
    targets = glossary_targets(load_glossary(MINI, complete=True))
    targets.examples = targets.examples[:16]
    settings = TuneSettings(batch_size=8, max_seq_length=64, learning_rate=1e-3)
    return train_adapter([targets], tmp_path_factory.mktemp("tune") / "adapter", settings, log=lambda _: None)


def test_an_adapter_changes_the_query_vectors_and_names_its_checksum(
    adapter: Path, encoder: SentenceTransformerEncoder
) -> None:
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (adapter / "adapter_model.safetensors").stat().st_size < 5_000_000  # small enough to ship
    name = canonical_model(f"{BASE_MODEL}+{adapter}")
    assert name == f"{BASE_MODEL}+{adapter}@{adapter_checksum(adapter)}"
    tuned = SentenceTransformerEncoder(f"{BASE_MODEL}+{adapter}")
    assert tuned.name == name
    texts = ["what happens when a model makes predictions?", "dropout"]
    cosines = np.sum(tuned.encode(texts) * encoder.encode(texts), axis=1)
    assert np.all(cosines < 0.99999) and np.all(cosines > 0.5)  # moved, not wrecked
    onnx = load_onnx_encoder(name)  # the ONNX query path runs the same adapted weights
    assert onnx.name == name
    assert np.sum(onnx.encode(texts) * tuned.encode(texts), axis=1) == pytest.approx([1.0, 1.0], abs=1e-4)


def test_an_index_is_only_queried_with_the_adapter_it_names(
    adapter: Path, encoder: SentenceTransformerEncoder, mini_index: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "adapter"
    shutil.copytree(adapter, copy)
    out = tmp_path / "index"
    shutil.copytree(mini_index, out)
    entries = load_glossary(MINI, complete=True)
    report = build_index(entries, out, BASE_MODEL, lambda: encoder, str(MINI), query_model=f"{BASE_MODEL}+{copy}")
    assert (report.up_to_date, report.embedded) == (False, 0)  # a new query model re-embeds nothing
    manifest = read_index(out).manifest
    assert (manifest.model, manifest.query_model) == (BASE_MODEL, canonical_model(f"{BASE_MODEL}+{copy}"))
    assert Searcher.load(out).answer("switching off random neurons during training", 1).hits[0].id == "dropout"
    with pytest.raises(IndexVersionError, match=r"is queried with the model .*glossary index"):
        Searcher.load(out, encoder=encoder)

    (copy / "adapter_config.json").write_text((copy / "adapter_config.json").read_text() + "\n")
    with pytest.raises(ModelLoadError, match=r"not the one the index names .* re-run `glossary index`"):
        Searcher.load(out)


def test_model_names_that_cannot_be_used_say_why(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no adapter .*glossary tune"):
        parse_model(f"{BASE_MODEL}+{tmp_path}")
    with pytest.raises(ModelLoadError, match=r"write BASE or BASE\+ADAPTER"):
        parse_model("+glossary-lora")
    assert parse_model(BASE_MODEL).name == BASE_MODEL
