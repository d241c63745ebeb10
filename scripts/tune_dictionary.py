#!/usr/bin/env python
"""Experiment: a query adapter trained on a dictionary's own definitions (the reverse-dictionary corpus).

Each definition of the corpus that ../shared/benchmarks/reverse_dictionary/prepare.py writes
(WordNet 3.0 + GCIDE) points at its word, among every word as `bench_reverse_dictionary.py`'s
glossary spells its terms; `indexer.tuning.train_adapter` learns a query-side LoRA adapter with a
softmax over all of them (the index keeps the base model's vectors). Held out entirely: every
sense of the `unseen` set's words, and of `--dev-words` further WordNet words drawn at random
(none a target of any set), whose glosses are written to `DATA/queries_dev.jsonl` with the
`unseen` protocol, so that a recipe can be chosen on them rather than on the benchmark:

    .venv/bin/python scripts/tune_dictionary.py --data RD_DATA --out /tmp/rd-adapter [--examples 60000]
    .venv/bin/python scripts/bench_reverse_dictionary.py --data RD_DATA --work /tmp/rd --sets dev,desc,seen,unseen \\
        --query-model sentence-transformers/all-MiniLM-L6-v2+/tmp/rd-adapter --latency-questions 0

Seeded. On 2 CPU cores a step of 64 takes about 2 s (60,000 examples: about an hour); the
README's "Reverse dictionary" section has what one such adapter measured.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
from pathlib import Path

from indexer.tuning import Example, Targets, TuneSettings, read_words, train_adapter


def dev_words(data: Path, count: int, seed: int) -> set[str]:
    """Draw `count` WordNet words (letters only, none a target of any set) and write their dev queries."""
    targets = {
        json.loads(line)["expected"].lower()
        for name in ("desc", "seen", "unseen")
        for line in (data / f"queries_{name}.jsonl").open(encoding="utf-8")
    }
    senses: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for line in (data / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["source"] == "wordnet":
            senses[row["term"].lower()].append(row)
    words = sorted(w for w in senses if w.isalpha() and len(w) > 3 and w not in targets)
    rng = random.Random(seed)
    drawn = rng.sample(words, count)
    with (data / "queries_dev.jsonl").open("w", encoding="utf-8") as out:
        for number, word in enumerate(drawn):
            sense = rng.choice(senses[word])
            query = {
                "id": f"dev-{number:03d}",
                "query": sense["definition"],
                "expected": sense["term"],
                "exclude_ids": [s["id"] for s in senses[word]],
            }
            out.write(json.dumps(query) + "\n")
    return set(drawn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="prepare.py's output folder")
    parser.add_argument("--out", type=Path, required=True, help="directory the adapter is written to")
    parser.add_argument("--examples", type=int, default=60_000, help="definitions sampled (0: all)")
    parser.add_argument("--dev-words", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    held_out = set(read_words(args.data / "queries_unseen.jsonl")) | dev_words(args.data, args.dev_words, args.seed)
    table, rows = Targets("dictionary"), dict[str, int]()
    for line in (args.data / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        term = row["term"].replace("_", " ")  # as bench_reverse_dictionary.py writes the glossary
        if term.lower() in held_out:
            continue
        number = rows.setdefault(term, len(rows))
        if number == len(table.texts):
            table.texts.append(term)
        table.examples.append(Example(row["definition"], (number,)))
    if args.examples:
        random.Random(1).shuffle(table.examples)
        del table.examples[args.examples :]
    print(
        f"{len(table.texts):,} words, {len(table.examples):,} definitions, {len(held_out):,} words held out", flush=True
    )
    settings = TuneSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        rank=args.rank,
        max_seq_length=64,
        seed=13,
    )
    out = train_adapter([table], args.out, settings, log=lambda message: print(message, flush=True))
    print(f"adapter written to {out}")


if __name__ == "__main__":
    main()
