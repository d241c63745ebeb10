"""The evaluation report as a terminal table."""

from __future__ import annotations

from rich.table import Table

from search_api.evaluation import BLIND, KINDS, METRICS, Report


def render_report(report: Report) -> Table:
    """One row per ranker and query kind; the `none` column is the share of unanswerable queries with no hits."""
    counts = ", ".join(f"{kind} {report.counts.get(kind, 0)}" for kind in (*KINDS, "none", BLIND))
    table = Table(title=f"Ranking quality ({counts})", title_justify="left")
    table.add_column("ranker")
    table.add_column("kind")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("none→[]", justify="right")
    for ranker, by_kind in report.scores.items():
        for kind in ("overall", *KINDS, BLIND):
            if kind not in by_kind:
                continue
            values = [f"{by_kind[kind][m]:.3f}" for m in METRICS]
            rejected = f"{report.rejected[ranker]:.3f}" if kind == "overall" else ""
            table.add_row(ranker if kind == "overall" else "", kind, *values, rejected)
        table.add_section()
    return table
