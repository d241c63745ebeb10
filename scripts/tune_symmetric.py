#!/usr/bin/env python
"""Experiment: a symmetric LoRA adapter (entries and questions both embedded through it).

`glossary tune` adapts the query side only. This trains the same kind of adapter (peft, rank 16
on every linear layer) with MultipleNegativesRankingLoss in both directions and in-batch
negatives, on pairs from the glossary's own texts (each description of an entry -> one of the
entry's other indexed texts, chosen at random) and from WordNet 3.0 (gloss -> lemmas; the
words of --exclude-words files left out). A pair whose entry (or lemmas) another pair of the
batch shares is not used as a negative. Using it means re-embedding the index:

    .venv/bin/python scripts/tune_symmetric.py --out /tmp/sym --exclude-words RD/queries_unseen.jsonl \\
        --exclude-words RD/queries_desc.jsonl
    glossary index --out /tmp/idx-sym --model sentence-transformers/all-MiniLM-L6-v2+/tmp/sym
    .venv/bin/python scripts/tune_fusion.py --index /tmp/idx-sym     # judged on the dev split only

Seeded; runs on the CPU (about 3 s a step of 32 pairs on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model

from indexer.encoder import DEFAULT_MODEL, load_sentence_transformer, transformer_of
from indexer.paths import BUNDLED_CORPUS
from indexer.texts import embedding_texts
from indexer.tuning import _save, glossary_targets, read_words, wordnet_targets
from indexer.validation import load_glossary


def pairs_of(wordnet: Path, wordnet_pairs: int, held_out: set[str], rng: random.Random) -> list[tuple[str, str, str]]:
    """(anchor, positive, group) pairs: the glossary's, then a seeded sample of WordNet's."""
    entries = load_glossary(BUNDLED_CORPUS, complete=True)
    entry_of_row = [entry.id for entry in entries for _ in embedding_texts(entry)]
    glossary = glossary_targets(entries)
    pairs = [
        (ex.anchor, glossary.texts[rng.choice(ex.answers)], "entry:" + entry_of_row[ex.answers[0]])
        for ex in glossary.examples
    ]
    if wordnet_pairs:
        table = wordnet_targets(wordnet, held_out, wordnet_pairs, 13)
        pairs += [
            (ex.anchor, table.texts[ex.answers[0]], "lemmas:" + table.texts[ex.answers[0]]) for ex in table.examples
        ]
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory the adapter is written to")
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--wordnet-pairs", type=int, default=3000)
    parser.add_argument(
        "--exclude-words", type=Path, action="append", default=[], help="JSONL ('expected') or word list"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    held_out = {word for path in args.exclude_words for word in read_words(path)}
    pairs = pairs_of(args.wordnet, args.wordnet_pairs, held_out, rng)
    model = load_sentence_transformer(DEFAULT_MODEL)
    model.max_seq_length = 96
    config = LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=["query", "key", "value", "dense"]
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        model[0].model = get_peft_model(transformer_of(model), config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=args.learning_rate)
    plan = []
    for _ in range(args.epochs):
        order = pairs[:]
        rng.shuffle(order)
        plan += [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    steps, warmup = len(plan), max(1, len(plan) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps)
    )
    print(f"{len(pairs):,} pairs, {steps} steps of {args.batch_size}", flush=True)
    model.train()
    started, recent = time.monotonic(), 0.0
    for step, batch in enumerate(plan, 1):
        anchors = model(model.preprocess([p[0] for p in batch]))["sentence_embedding"]
        positives = model(model.preprocess([p[1] for p in batch]))["sentence_embedding"]
        logits = (
            20.0 * torch.nn.functional.normalize(anchors, dim=-1) @ torch.nn.functional.normalize(positives, dim=-1).T
        )
        groups = [p[2] for p in batch]
        shared = torch.tensor([[a == b and i != j for j, b in enumerate(groups)] for i, a in enumerate(groups)])
        logits = logits.masked_fill(shared, float("-inf"))
        target = torch.arange(len(batch))
        loss = (
            torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)
        ) / 2
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        recent = 0.9 * recent + 0.1 * value if step > 1 else value
        if step % 20 == 0 or step == steps:
            print(f"step {step}/{steps}  loss {recent:.3f}  {time.monotonic() - started:.0f} s", flush=True)
    print(f"adapter written to {_save(model[0].model, args.out, DEFAULT_MODEL)}")


if __name__ == "__main__":
    main()
