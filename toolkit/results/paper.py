"""Ours beside the paper: every number of ours that has a published counterpart
(``toolkit.published``), the difference, and whether it reproduces.

A cell does not reproduce when ``|ours − published| > max(2·std, 1 point)``: beyond both twice our
seed std (population std, as the tables) and one point. The point floor keeps a method whose seeds
agree closely (std 0.1) from failing over the rounding and split differences that separate any
re-run from a paper; 2·std lets a noisy cell (EuroSAT, few seeds) differ by what its own seeds
differ by. Derived numbers (HM, averages) have no std: their bound is the point alone. Only the
``accuracy`` metric is compared (the papers publish no other); an average compares only when ours
is over the same datasets as the published one.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import toolkit.published as published
from toolkit.published.data import NOT_FOUND

from .aggregate import Entry, Summary, entry_order
from .discover import Method
from .protocols import AVERAGE, PROTOCOLS, column_order, dataset_order, dataset_title

RULE = ("✗: does not reproduce, |ours − published| > max(2·std, 1 point); HM and averages (no std): > 1 point; "
        "ours is mean ± std over seeds (n seeds)")
POINT = 1.0


@dataclass
class PaperCell:
    protocol: str
    method: Method
    dataset: str
    column: str
    ours: Summary
    published: float
    table: published.PublishedTable
    computed: bool = False  # the published side is the mean of the published targets, not a printed average

    @property
    def difference(self) -> float:
        return self.ours.mean - self.published

    @property
    def bound(self) -> float:
        std = self.ours.std if self.ours.std is not None and len(self.ours.values) > 1 else 0.0
        return max(2 * std, POINT)

    @property
    def reproduces(self) -> bool:
        return abs(self.difference) <= self.bound

    def ours_text(self) -> str:
        text = f"{self.ours.mean:.2f}"
        if self.ours.std is not None and len(self.ours.values) > 1:
            text += f" ± {self.ours.std:.2f}"
        return text

    def n_text(self) -> str:
        if self.dataset == AVERAGE:
            return f"{len(self.ours.over)} datasets"
        return str(len(self.ours.values)) if self.ours.values else "–"

    def record(self) -> dict:
        return {
            "protocol": self.protocol,
            "method": self.method.label,
            "trainer": self.method.trainer,
            "cfg": self.method.cfg,
            "dataset": self.dataset,
            "metric": self.column,
            "ours_mean": round(self.ours.mean, 4),
            "ours_std": None if self.ours.std is None else round(self.ours.std, 4),
            "ours_n": len(self.ours.values) or len(self.ours.over) or None,
            "published": self.published,
            "published_computed": self.computed,
            "difference": round(self.difference, 4),
            "bound": round(self.bound, 4),
            "reproduces": self.reproduces,
            "source": self.table.describe(),
        }


def published_value(table: published.PublishedTable, entry: Entry) -> Tuple[Optional[float], bool]:
    """The published number for ``entry`` and whether it was computed here (the mean of the
    published targets, for tables whose sources print no agreed average)."""
    if entry.dataset != AVERAGE:
        return table.value(entry.dataset, entry.column), False
    if tuple(sorted(entry.summary.over)) != tuple(sorted(table.average_over)):
        return None, False  # ours is over other datasets: no like-for-like average
    if entry.column in table.average:
        return table.average[entry.column], False
    values = [table.value(d, entry.column) for d in table.average_over]
    if table.protocol != "base2new" and values and None not in values:
        return round(sum(values) / len(values), 2), True
    return None, False


def paper_cells(entries: List[Entry], metric: str) -> List[PaperCell]:
    """Every entry of ours with a published counterpart of the same method, config and protocol."""
    if metric != "accuracy":
        return []
    cells = []
    for entry in sorted(entries, key=lambda e: (e.protocol, entry_order(e))):
        table = published.find(entry.protocol, entry.method.trainer, entry.method.cfg)
        value, computed = published_value(table, entry) if table else (None, False)
        if value is not None:
            cells.append(PaperCell(entry.protocol, entry.method, entry.dataset, entry.column, entry.summary, value,
                                   table, computed))
    return cells


def protocol_notes(protocol: str, cells: List[PaperCell], methods: List[Method]) -> List[str]:
    """Sources and settings of the tables used, the rule, and the methods without published numbers."""
    notes = [RULE] if cells else []
    notes += [f"published: {t}" for t in dict.fromkeys(c.table.describe() for c in cells)]
    if any(c.computed for c in cells):
        notes.append("published average marked * = mean of the published targets (the sources print no agreed average)")
    compared = {c.method for c in cells}
    for method in sorted(set(methods) - compared):
        reason = published.not_published(method.trainer)
        notes.append(f"{method.label}: " + (reason or "no published number for this method and config"))
    if protocol in NOT_FOUND:
        notes.append(NOT_FOUND[protocol])
    return notes


def lookup(cells: List[PaperCell]) -> Dict[Tuple[str, Method, str, str], PaperCell]:
    """(protocol, method, dataset, column) -> cell, for the CSV's published columns."""
    return {(c.protocol, c.method, c.dataset, c.column): c for c in cells}


def row(c: PaperCell) -> List[str]:
    mark = "yes" if c.reproduces else "✗ no"
    value = f"{c.published:.2f}" + ("*" if c.computed else "")
    dataset = dataset_title(c.dataset) + (f" ({len(c.ours.over)})" if c.dataset == AVERAGE else "")
    return [dataset, c.method.label, c.column, c.ours_text(), c.n_text(), value, f"{c.difference:+.2f}", mark]


HEADER = ["Dataset", "Method", "Metric", "Ours", "n", "Published", "Δ", "Reproduces"]


def ordered(cells: List[PaperCell]) -> List[PaperCell]:
    """The average first, then the papers' dataset order; methods and columns within."""
    return sorted(cells, key=lambda c: (c.dataset != AVERAGE, dataset_order(c.dataset), c.method, column_order(c.column)))


def worst_first(cells: List[PaperCell]) -> List[PaperCell]:
    return sorted((c for c in cells if not c.reproduces), key=lambda c: (-abs(c.difference), c.method, c.dataset))


def report_line(c: PaperCell) -> str:
    n = f" (n={len(c.ours.values)})" if c.ours.values else (f" (over {len(c.ours.over)} datasets)" if c.ours.over else "")
    return (f"{PROTOCOLS[c.protocol].title}, {c.method.label}, {dataset_title(c.dataset)} {c.column}: "
            f"ours {c.ours_text()}{n}, published {c.published:.2f}{'*' if c.computed else ''} "
            f"({c.table.source}): {c.difference:+.2f}")
