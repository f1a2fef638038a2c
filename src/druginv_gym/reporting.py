"""What the command line prints and the benchmark writes: user errors and metric tables.

It lives apart from :mod:`druginv_gym.cli` so that the subcommands in other modules
(:mod:`druginv_gym.sweep`) report the same way without importing the CLI that imports them.
Every column comes from the metric table of :mod:`druginv_gym.evaluation`
(:func:`~druginv_gym.evaluation.table_metrics`), so a metric registered there appears here
with nothing else to edit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from druginv_gym.evaluation import Metric, table_metrics

__all__ = [
    "BINDING_TITLE",
    "CLASS_TITLE",
    "SUPPLY_TITLE",
    "UserError",
    "by_cost",
    "console_cell",
    "has_classes",
    "markdown_cell",
    "markdown_table",
    "pct",
    "print_table",
]


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def pct(x: float) -> str:
    """A share of 1 as a percentage with two decimals (``n/a`` when it is not finite)."""
    return "n/a" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _mean_ci(row: pd.Series, metric: Metric) -> tuple[float, Any]:
    """The summary row's mean (NaN when the column is absent) and half-width (None then)."""
    return row.get(metric.name, float("nan")), row.get(f"{metric.name}_ci95")


def console_cell(metric: Metric, row: pd.Series) -> str:
    """``metric``'s mean ± 95 % half-width in a summary row, as the console table prints it
    (the half-width of a percentage without its own ``%``, to keep the columns narrow)."""
    x, ci = _mean_ci(row, metric)
    if metric.unit == "%":
        if not math.isfinite(x):
            return "n/a"
        return f"{100 * x:.2f} %" + (f" ± {100 * ci:.2f}" if ci is not None else "")
    spec = ",.0f" if metric.unit == "USD" else ",.2f"
    return f"{x:{spec}}" + (f" ± {ci:{spec}}" if ci is not None else "")


def markdown_cell(metric: Metric, row: pd.Series) -> str:
    """``metric``'s mean ± 95 % half-width in a summary row, as ``summary.md`` writes it."""
    x, ci = _mean_ci(row, metric)
    if metric.unit == "%":
        return pct(x) + (f" ± {pct(ci)}" if ci is not None else "")
    spec = ",.0f" if metric.unit == "USD" else ",.2f"
    return f"{x:{spec}}" + (f" ± {ci:{spec}}" if ci is not None else "")


#: The title of the binding table (``print_table(..., table="binding")``) wherever it is printed.
BINDING_TITLE = "how often each limit binds (share of slots or drug-slots)"
#: The title of the supply table (``print_table(..., table="supply")``), printed for a scenario
#: with a supply model.
SUPPLY_TITLE = "what the supply model did (units and USD per episode)"
#: The title of the class table (``print_table(..., table="classes")``), printed for a scenario
#: with criticality classes or substitution (:func:`has_classes`).
CLASS_TITLE = "by criticality class (vital, essential, non-essential) and substitution"


def has_classes(config: Any) -> bool:
    """True when a scenario has criticality classes or therapeutic substitution: its reports
    then show the class table."""
    return config.criticality is not None or config.substitution is not None


def markdown_table(summary: pd.DataFrame, table: str, title: str, intro: str) -> list[str]:
    """The lines of a ``summary.md`` section: a ``## title`` heading, ``intro``, and the shown
    metrics of ``table`` (:func:`~druginv_gym.evaluation.table_metrics`) per policy, cheapest
    first, but those no policy has a value of; none when the summary has none of them."""
    metrics = [m for m in _with_values(table, summary) if m.name in summary.columns]
    if not metrics:
        return []
    lines = ["", f"## {title}", "", intro, ""]
    lines += [
        "| " + " | ".join(["policy", *(m.header for m in metrics)]) + " |",
        "|" + "---|" * (1 + len(metrics)),
    ]
    for name, r in by_cost(summary).iterrows():
        lines.append("| " + " | ".join([str(name), *(markdown_cell(m, r) for m in metrics)]) + " |")
    return lines


def _with_values(table: str, summary: pd.DataFrame) -> list[Metric]:
    """The shown metrics of ``table`` but those whose column in ``summary`` has no value for
    any policy (a class without a target, or without drugs)."""
    return [
        m
        for m in table_metrics(table)
        if m.name not in summary.columns or not summary[m.name].isna().all()
    ]


def by_cost(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary``'s rows sorted by mean refilling cost, cheapest first (rows without a cost
    last, in their order)."""
    if "total_cost" not in summary.columns:
        return summary
    return summary.sort_values("total_cost", kind="stable", na_position="last")


def print_table(
    title: str,
    summary: pd.DataFrame,
    sources: Mapping[str, str] | None = None,
    table: str = "main",
) -> None:
    """Means ± 95 % intervals per policy (one row per index entry of ``summary``, cheapest
    first), one column per shown metric of ``table`` (``"main"``; ``"binding"``: how often
    each limit binds; ``"supply"``: what a supply model did; ``"classes"``: per criticality
    class), leaving out a metric no policy has a value of; with rich when it is installed, as
    aligned plain text otherwise."""
    metrics = _with_values(table, summary)
    cols = ["policy", *(m.short_header for m in metrics)]
    rows = []
    for name, r in by_cost(summary).iterrows():
        label = str(name) + (f" [{sources[name]}]" if sources and name in sources else "")
        rows.append([label, *(console_cell(m, r) for m in metrics)])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
        print(title)
        for row in [cols, *rows]:
            print(
                "  ".join(
                    v.ljust(w) if i == 0 else v.rjust(w)
                    for i, (v, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return
    table = Table(title=title)
    for i, c in enumerate(cols):
        table.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 200))
    console.print(table)
