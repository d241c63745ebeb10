"""The notebooks run top to bottom against a real index and show what they promise.

The notebook runs in a real Jupyter kernel (the venv's `python3` kernelspec from ipykernel),
reading the bundled index through $GLOSSARY_INDEX, exactly as a reader would run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
RANKING_QUALITY = NOTEBOOKS / "01_ranking_quality.ipynb"
RANKERS = ("full", "dense", "lexical", "name")
KERNEL = "python3"
CELL_TIMEOUT_S = 300

# Building the bundled index (when no earlier test has) plus running the notebook can pass
# the 300 s default of pyproject on a 2-core machine.
pytestmark = pytest.mark.timeout(900)


def outputs_text(cell: Any) -> str:
    """Everything textual a reader sees under a cell: streams, plain text, HTML, markdown."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        for mime in ("text/plain", "text/html", "text/markdown"):
            if mime in output.get("data", {}):
                parts.append(output.data[mime])
    return "\n".join(parts)


def plain_rows(cell: Any) -> list[str]:
    """The lines of a cell's plain-text display output (the tables print header, rule, rows)."""
    texts = [output.data["text/plain"] for output in cell.outputs if "text/plain" in output.get("data", {})]
    return [line for text in texts for line in text.splitlines()]


def tagged(notebook: Any, tag: str) -> Any:
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


@pytest.fixture(scope="module")
def ranking_quality(bundled_index: Path) -> Iterator[Any]:
    """01_ranking_quality.ipynb executed against the bundled index (errors are kept, not raised)."""
    notebook = nbformat.read(RANKING_QUALITY, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL,
        allow_errors=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel's working directory
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOSSARY_INDEX", str(bundled_index))  # the kernel process inherits it
        client.execute()
    yield notebook


def test_the_python3_kernel_is_installed() -> None:
    assert KERNEL in KernelSpecManager().find_kernel_specs()


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(RANKING_QUALITY, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells[0].cell_type == "markdown"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_no_cell_errors(ranking_quality: Any) -> None:
    errors = [
        (cell.get("id"), output.ename, output.evalue)
        for cell in ranking_quality.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert errors == []


def test_it_reads_the_index_named_by_the_environment(ranking_quality: Any, bundled_index: Path) -> None:
    assert str(bundled_index) in outputs_text(tagged(ranking_quality, "load-index"))


def test_the_evaluation_table_compares_every_ranker(ranking_quality: Any) -> None:
    cell = tagged(ranking_quality, "evaluation-table")
    assert "recall@1" in outputs_text(cell)
    rows = plain_rows(cell)
    assert sorted(line.split()[0] for line in rows[2:]) == sorted(RANKERS)


def test_the_embedding_space_is_plotted(ranking_quality: Any) -> None:
    cell = tagged(ranking_quality, "embedding-plot")
    assert any("image/png" in output.get("data", {}) for output in cell.outputs)


def test_the_worst_queries_are_listed(ranking_quality: Any) -> None:
    rows = plain_rows(tagged(ranking_quality, "worst-queries"))
    assert rows and "ranked first instead" in rows[0]
    assert len(rows) > 2  # header, rule, then at least one query
