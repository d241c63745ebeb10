"""Adapt the query encoder to definitional language: a LoRA adapter on the query side only.

The base model (all-MiniLM-L6-v2) was trained on web text pairs; a glossary question describes
a concept in other words than its entry. The index keeps the base model's vectors; the adapter
changes only how a *query* is embedded, so that a description lands near the vectors of the
entry it describes. Training therefore embeds the target texts once with the base model and
learns, for each example, a softmax over every target (not only a batch's):

- from the glossary itself: each description of an entry (plain English, analogy, example,
  usage, each misconception, the bare definition) -> the entry's other indexed texts
  (`indexer.texts.embedding_texts`), the anchor's own row hidden;
- from WordNet 3.0 (Debian's `wordnet-base`): gloss -> its lemmas, a description -> the word it
  describes, leaving out words that a benchmark holds out.

Only the adapter's low-rank matrices are trained (about 0.7 M numbers, under 3 MB), so the
result can ship in the package, and an index need not be rebuilt to use a new one. Training
is seeded and runs on the CPU.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.encoder import DEFAULT_MODEL, load_sentence_transformer, transformer_of
from indexer.errors import ModelLoadError
from indexer.model_spec import ADAPTER_FILES
from indexer.schema import Entry
from indexer.texts import embedding_texts

logger = logging.getLogger(__name__)

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
DESCRIPTION_FIELDS = ("plain_english", "analogy", "example", "usage")


@dataclass(frozen=True)
class Example:
    """A query-like text, the rows of its target table that answer it, and rows it may not use."""

    anchor: str
    answers: tuple[int, ...]
    hidden: tuple[int, ...] = ()  # rows that contain the anchor itself


@dataclass
class Targets:
    """One table of target texts (embedded once, by the base model) and the examples that point into it."""

    name: str
    texts: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class TuneSettings:
    """What one training run does. The defaults trained "adapter 1" of the README (measured, not shipped)."""

    wordnet_pairs: int = 10_000
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 2e-4
    rank: int = 16
    max_seq_length: int = 96
    scale: float = 20.0  # inverse softmax temperature over cosines, as in MultipleNegativesRankingLoss
    seed: int = 13


def glossary_targets(entries: Sequence[Entry]) -> Targets:
    """Every indexed text of the glossary; each description of an entry answered by the entry's other texts."""
    targets = Targets("glossary")
    for entry in entries:
        rows: dict[str, int] = {}
        for name, text in embedding_texts(entry):
            rows[name] = len(targets.texts)
            targets.texts.append(text)
        anchors = [(getattr(entry, f), f) for f in DESCRIPTION_FIELDS]
        anchors += [(item, "misconceptions") for item in entry.misconceptions]
        anchors.append((entry.definition, "definition"))
        for anchor, own in anchors:
            if anchor:
                answers = tuple(row for name, row in rows.items() if name != own)
                targets.examples.append(Example(anchor, answers, (rows[own],)))
    return targets


def wordnet_targets(wordnet_dir: Path, exclude_words: set[str], limit: int, seed: int) -> Targets:
    """Gloss -> lemmas for a seeded sample of `limit` WordNet synsets (examples dropped from glosses).

    A synset with any lemma in `exclude_words` is left out entirely.
    """
    pairs: list[tuple[str, str]] = []
    for name in WORDNET_FILES:
        path = wordnet_dir / name
        if not path.is_file():
            raise ModelLoadError(f"no WordNet data file {path}; install it with: apt-get install wordnet-base")
        with path.open(encoding="latin-1") as handle:
            for line in handle:
                pair = _wordnet_pair(line, exclude_words)
                if pair is not None:
                    pairs.append(pair)
    random.Random(seed).shuffle(pairs)
    targets = Targets("wordnet")
    rows: dict[str, int] = {}
    for gloss, lemmas in pairs[:limit]:
        row = rows.setdefault(lemmas, len(rows))
        if row == len(targets.texts):
            targets.texts.append(lemmas)
        targets.examples.append(Example(gloss, (row,)))
    return targets


def _wordnet_pair(line: str, exclude_words: set[str]) -> tuple[str, str] | None:
    if line.startswith("  ") or "|" not in line:  # the licence header
        return None
    head, gloss = line.split("|", 1)
    fields = head.split()
    count = int(fields[3], 16)
    lemmas = [fields[4 + 2 * i].split("(")[0].replace("_", " ") for i in range(count)]
    if any(lemma.lower() in exclude_words for lemma in lemmas):
        return None
    definition = gloss.split('; "')[0].strip().rstrip(";").strip()
    if not definition:
        return None
    return definition, ", ".join(dict.fromkeys(lemmas))


def batches(tables: Sequence[Targets], size: int, rng: random.Random) -> list[tuple[int, list[Example]]]:
    """(table number, examples) batches of one table each, shuffled."""
    out: list[tuple[int, list[Example]]] = []
    for number, table in enumerate(tables):
        order = list(table.examples)
        rng.shuffle(order)
        out.extend((number, order[i : i + size]) for i in range(0, len(order), size))
    rng.shuffle(out)
    return out


def train_adapter(
    tables: Sequence[Targets],
    out: Path,
    settings: TuneSettings = TuneSettings(),
    model_name: str = DEFAULT_MODEL,
    threads: int | None = None,
    log: Callable[[str], None] = logger.info,
) -> Path:
    """Train a query-side LoRA adapter on `tables` and write it to the directory `out`.

    The adapter is written beside `out` first and then renamed into place; an adapter already
    at `out` is set aside until then, so a killed run never leaves a half-written one.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    model = load_sentence_transformer(model_name)
    log(f"embedding {sum(len(t.texts) for t in tables):,} target texts with the base model")
    # encode() answers in inference mode; a clone is an ordinary tensor that autograd may use
    vectors = [
        model.encode(t.texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True).clone() for t in tables
    ]
    model.max_seq_length = settings.max_seq_length
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=2 * settings.rank,
        lora_dropout=0.05,
        target_modules=["query", "key", "value", "dense"],
    )
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours to answer
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        # `auto_model` is a read-only view of `model`: replace the module itself
        model[0].model = get_peft_model(transformer_of(model), config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=settings.learning_rate)
    plan = [batches(tables, settings.batch_size, rng) for _ in range(settings.epochs)]
    steps = sum(len(epoch) for epoch in plan)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps)
    )
    examples = sum(len(t.examples) for t in tables)
    log(f"training {sum(p.numel() for p in params):,} adapter weights on {examples:,} examples, {steps} steps")
    model.train()
    started, step, recent = time.monotonic(), 0, 0.0
    for epoch in plan:
        for number, batch in epoch:
            queries = model(model.preprocess([e.anchor for e in batch]))["sentence_embedding"]
            logits = settings.scale * torch.nn.functional.normalize(queries, dim=-1) @ vectors[number].T
            answers = torch.zeros_like(logits, dtype=torch.bool)
            hidden = torch.zeros_like(logits, dtype=torch.bool)
            for i, example in enumerate(batch):
                answers[i, list(example.answers)] = True
                hidden[i, list(example.hidden)] = True
            right = torch.logsumexp(logits.masked_fill(~answers, float("-inf")), dim=1)
            every = torch.logsumexp(logits.masked_fill(hidden, float("-inf")), dim=1)
            loss = (every - right).mean()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            step += 1
            value = float(loss.detach())
            recent = 0.9 * recent + 0.1 * value if step > 1 else value
            if step % 20 == 0 or step == steps:
                log(f"step {step}/{steps}  loss {recent:.3f}  {time.monotonic() - started:.0f} s")
    return _save(model[0].model, out, model_name)


def _save(peft_model: object, out: Path, model_name: str) -> Path:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        peft_model.save_pretrained(str(tmp))  # type: ignore[attr-defined]
        for extra in set(tmp.iterdir()) - {tmp / name for name in ADAPTER_FILES}:
            extra.unlink()  # peft's generated model card: the README documents the adapter
        config_file = tmp / "adapter_config.json"
        config = json.loads(config_file.read_text("utf-8"))
        config["base_model_name_or_path"] = model_name  # not this machine's path to it
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; an adapter is read by every user of the install
        for file in tmp.iterdir():
            file.chmod(0o644)
        old = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        if out.exists():
            out.rename(old)  # kept aside until the new adapter is in place
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_words(path: Path) -> Iterator[str]:
    """Words to hold out, one per line, or the `expected` of each line of a JSONL query file."""
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if line:
            yield (json.loads(line)["expected"] if line.startswith("{") else line).lower()
