"""Which model embeds: a base sentence-transformers model, optionally with a LoRA adapter on top.

A model name is `BASE` or `BASE+ADAPTER`. ADAPTER is a directory holding an adapter that
`glossary tune` wrote, or `glossary-lora`, the name of one placed in indexer/adapters/ (none
ships: see the README's "The query adapter"). The
canonical name carries the adapter's checksum, `BASE+ADAPTER@SHA12`; an index manifest records
the canonical name, so an index is only ever queried with the weights that embedded it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ModelLoadError

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_ADAPTER = "glossary-lora"
BUNDLED_ADAPTERS = {BUNDLED_ADAPTER: Path(__file__).resolve().parent / "adapters" / BUNDLED_ADAPTER}
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# The model that embeds queries by default. `glossary tune` trains a query adapter; none ships
# yet, because the one measured did not beat the base model on the dev split (see README).
DEFAULT_QUERY_MODEL = BASE_MODEL


@dataclass(frozen=True)
class ModelSpec:
    """A base model and, optionally, the adapter merged into it (with the adapter's checksum)."""

    base: str
    adapter: str | None = None  # a bundled adapter's name, or an absolute directory
    checksum: str | None = None

    @property
    def name(self) -> str:
        """The canonical name: what manifests record and encoders report."""
        return self.base if self.adapter is None else f"{self.base}+{self.adapter}@{self.checksum}"

    def adapter_dir(self) -> Path | None:
        if self.adapter is None:
            return None
        return BUNDLED_ADAPTERS.get(self.adapter, Path(self.adapter))


def adapter_checksum(directory: Path) -> str:
    """SHA-256 (first 12 hex digits) over the adapter's configuration and weights."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        digest.update(name.encode())
        digest.update((directory / name).read_bytes())
    return digest.hexdigest()[:12]


def parse_model(name: str) -> ModelSpec:
    """The spec of a model name; an adapter is located and its checksum checked against the name's."""
    base, plus, rest = name.partition("+")
    if not plus:
        return ModelSpec(name)
    label, at, stated = rest.rpartition("@")
    if not at:
        label, stated = rest, ""
    if not base or not label:
        raise ModelLoadError(f"cannot read the model name {name!r}; write BASE or BASE+ADAPTER")
    directory = BUNDLED_ADAPTERS.get(label) or Path(label).expanduser().resolve()
    if not all((directory / file).is_file() for file in ADAPTER_FILES):
        raise ModelLoadError(
            f"no adapter {label!r}: give {BUNDLED_ADAPTER!r} or a directory written by `glossary tune` "
            f"(holding {' and '.join(ADAPTER_FILES)})"
        )
    actual = adapter_checksum(directory)
    if stated and stated != actual:
        raise ModelLoadError(
            f"the adapter {label!r} is not the one the index names (its checksum is {actual}, the index "
            f"needs {stated}); re-run `glossary index` to use this adapter"
        )
    return ModelSpec(base, label if label in BUNDLED_ADAPTERS else str(directory), actual)


def canonical_model(name: str) -> str:
    """`BASE+ADAPTER` with the adapter's checksum added (a plain base name is returned as given)."""
    return parse_model(name).name
