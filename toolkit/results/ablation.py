"""Ablation tables and their plot: the points of one method side by side.

A point is a sweep's grid point (``<cfg>@KEY=V`` folders) or a group of seeds whose recorded
settings differ (``settings``); methods that differ only in their point form one ablation. Each
row is a point: its values of the varied keys, the averages over the datasets (as the method
tables compute them) ± the std over seeds of the per-seed averages, and the seed count; the best
row on the protocol's headline number (HM, the most shots, the target average) is marked.
"""
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

from .aggregate import Entry, harmonic_mean
from .discover import Method
from .protocols import AVERAGE, Protocol, column_order
from .tables import Table, counted

ABLATION_PLOT = "ablation.png"
POINT_ITEM = re.compile(r",(?=[A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)+(?: \([^)]*\))?=)")  # the commas between KEY=V items
UNSET = "(config)"
BEST = "best"


def point_values(point: str) -> Dict[str, str]:
    """``OPTIM.LR=0.1,OPTIM.MAX_EPOCH=2`` -> {key: value}; an item without ``=`` is a note."""
    values = {}
    for item in POINT_ITEM.split(point) if point else []:
        key, sep, value = item.partition("=")
        values.update({key: value} if sep else {"settings": item})
    return values


@dataclass
class Row:
    method: Method
    values: Dict[str, str]
    numbers: Dict[str, Tuple[float, Optional[float]]]  # column -> (mean, std over seeds)
    seeds: int
    datasets: int


def per_seed_average(by_key: Dict[Tuple[Method, str, str], Entry], method: Method, column: str,
                     over: Tuple[str, ...]) -> Dict[str, float]:
    """Per seed, the mean over ``over`` of the method's ``column`` (seeds present in every dataset)."""
    per_dataset = [by_key[(method, d, column)].summary.values for d in over if (method, d, column) in by_key]
    seeds = set.intersection(*(set(v) for v in per_dataset)) if per_dataset else set()
    return {seed: float(np.mean([values[seed] for values in per_dataset])) for seed in seeds}


def ablation_rows(methods: List[Method], entries: List[Entry]) -> List[Row]:
    by_key = {(e.method, e.dataset, e.column): e for e in entries}
    rows = []
    for method in methods:
        averages = {e.column: e for e in entries if e.method == method and e.dataset == AVERAGE}
        numbers, seed_counts = {}, []
        for column, average in averages.items():
            if column == "HM":
                base, new = (per_seed_average(by_key, method, c, average.summary.over) for c in ("Base", "New"))
                seeds = {s: harmonic_mean(base[s], new[s]) for s in base.keys() & new.keys()}
            else:
                seeds = per_seed_average(by_key, method, column, average.summary.over)
            std = float(np.std(list(seeds.values()))) if len(seeds) > 1 else None
            numbers[column] = (average.summary.mean, std)
            seed_counts.append(len(seeds))
        if numbers:
            datasets = max(len(a.summary.over) for a in averages.values())
            rows.append(Row(method, point_values(method.point), numbers, min(seed_counts), datasets))
    return rows


def headline(columns: List[str]) -> str:
    """The number the best row is chosen on: HM, the most shots, else the first column."""
    if "HM" in columns:
        return "HM"
    shots = [c for c in columns if c.split()[0].isdigit()]
    return shots[-1] if shots else columns[0]


def varied_keys(rows: List[Row]) -> List[str]:
    keys = sorted({k for row in rows for k in row.values})
    return [k for k in keys if len({row.values.get(k, UNSET) for row in rows}) > 1] or keys


def columns_of(rows: List[Row]) -> List[str]:
    return sorted({c for row in rows for c in row.numbers}, key=column_order)


def best_row(rows: List[Row], column: str) -> Row:
    return max(rows, key=lambda row: row.numbers.get(column, (float("-inf"), None))[0])


def number_text(number: Optional[Tuple[float, Optional[float]]]) -> str:
    if number is None:
        return "–"
    mean, std = number
    return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def ablation_table(protocol: Protocol, family: Method, rows: List[Row]) -> Table:
    keys, columns = varied_keys(rows), columns_of(rows)
    best_column = headline(columns)
    best = best_row(rows, best_column)
    body = [[row.values.get(k, UNSET) for k in keys] + [number_text(row.numbers.get(c)) for c in columns]
            + [str(row.seeds), str(row.datasets), BEST if row is best else ""] for row in rows]
    notes = [f"one row per point of {family.label}; each number is the average over the {protocol.unit} (as the "
             f"method tables compute it) ± the population std over seeds of the per-seed averages; "
             f"{BEST}: the highest {best_column}; {UNSET}: the value its config gives"]
    if len({row.datasets for row in rows}) > 1:
        notes.append(f"the points are averaged over different numbers of {protocol.unit} "
                     f"({counted([row.datasets for row in rows], protocol.unit)}): compare them with care")
    header = keys + columns + ["seeds", protocol.unit, ""]
    return Table(f"{protocol.title}: ablation of {family.label}", header, body, notes, names=len(keys))


Ablation = Tuple[Protocol, Method, List[Row]]


def ablations(protocol: Protocol, entries: List[Entry]) -> List[Ablation]:
    """Methods that differ only in their point (two or more with numbers), by the method without point."""
    entries = [e for e in entries if e.protocol == protocol.name]
    groups = defaultdict(set)
    for e in entries:
        groups[replace(e.method, point="")].add(e.method)
    found = []
    for family, methods in sorted(groups.items()):
        rows = ablation_rows(sorted(methods), entries) if len(methods) > 1 else []
        if len(rows) > 1:
            found.append((protocol, family, rows))
    return found


def ablation_tables(protocol: Protocol, entries: List[Entry]) -> List[Table]:
    return [ablation_table(*found) for found in ablations(protocol, entries)]


def plot_ablation(found: List[Ablation], path: str) -> bool:
    """One panel per ablation: its headline number per point, the seeds' std as error bars, the
    best point darker. False (no file) without an ablation."""
    if not found:
        return False
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.5 + 0.5 * sum(len(rows) + 1 for _, _, rows in found)))
    for i, (protocol, family, rows) in enumerate(found, 1):
        ax = fig.add_subplot(len(found), 1, i)
        keys, column = varied_keys(rows), headline(columns_of(rows))
        best = best_row(rows, column)
        numbers = [row.numbers.get(column, (0.0, None)) for row in rows]
        ax.barh(range(len(rows)), [mean for mean, _ in numbers], xerr=[std or 0.0 for _, std in numbers],
                color=["tab:blue" if row is best else "tab:gray" for row in rows])
        ax.set_yticks(range(len(rows)), [", ".join(f"{k}={row.values.get(k, UNSET)}" for k in keys) for row in rows],
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{column}, average over the {protocol.unit}")
        ax.set_title(f"{protocol.title}: {family.label}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True
