"""The tables: per-method grids, every method side by side, comparisons and per-seed values.

A ``Table`` is plain strings (title, header, rows, notes); ``render`` writes it as aligned text,
Markdown or LaTeX, so every format shows the same numbers.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .aggregate import Comparison, Delta, Entry, Summary, entry_order, group_by_method, method_rank
from .discover import ZEROSHOT_SEED, Cell, Method, seed_order
from .protocols import AVERAGE, PROTOCOLS, SOURCE_DATASET, Protocol, column_order, dataset_order, dataset_title
from .report import Report

STD_NOTE = "mean ± std over seeds; std is the population std (ddof=0), as CoOp's parse_test_res.py"
HM_NOTE = (
    "HM = 2·B·N/(B+N) of the seed means; Average = HM of the mean Base and the mean New over the datasets, "
    "as in the papers (not the mean of the per-dataset HMs)"
)
DELTA_NOTE = (
    "Δ rows: a plug-in variant's mean minus its host's (PLPP's host is CoOp, <Host>_PLPP's, <Host>_DePT's "
    "and <Host>_PLPP_DePT's is <Host>) "
    "where both have results; the average Δ is taken over the datasets both have"
)
B2N_COLUMNS = ("Base", "New", "HM")


@dataclass
class Table:
    title: str
    header: List[str]
    rows: List[List[str]]
    notes: List[str] = field(default_factory=list)
    names: int = 1  # leading columns of names (left-aligned); numbers follow


def fmt(summary: Summary, full_n: int = 0) -> str:
    """``81.23 ± 0.45``; one seed or a derived number shows the mean only; a cell with fewer
    seeds than its method has elsewhere in the table says how many."""
    text = f"{summary.mean:.2f}"
    if summary.std is not None and len(summary.values) > 1:
        text += f" ± {summary.std:.2f}"
    if summary.values and len(summary.values) < full_n:
        text += f" (n={len(summary.values)})"
    return text


def counted(sizes: Iterable[int], unit: str) -> str:
    """``11 datasets``, ``1 dataset``, ``9–11 datasets``."""
    low, high = min(sizes), max(sizes)
    if low != high:
        return f"{low}–{high} {unit}"
    return f"1 {unit[:-1]}" if low == 1 else f"{low} {unit}"


def dataset_label(dataset: str, protocol: Protocol, entries: List[Entry]) -> str:
    if dataset == AVERAGE:
        return f"Average ({counted([len(e.summary.over) for e in entries if e.dataset == AVERAGE], protocol.unit)})"
    name = dataset_title(dataset)
    return f"{name} (source)" if protocol.unit == "targets" and dataset == SOURCE_DATASET else name


def seed_counts(entries: Iterable[Entry]) -> Dict[Method, int]:
    """Per method, the most seeds any of its cells has: a cell with fewer says ``(n=K)``."""
    full_n: Dict[Method, int] = defaultdict(int)
    for e in entries:
        full_n[e.method] = max(full_n[e.method], len(e.summary.values))
    return full_n


def cell_text(entry: Optional[Entry], full_n: Dict[Method, int]) -> str:
    return fmt(entry.summary, full_n[entry.method]) if entry else "–"


def grid(
    title: str, corner: str, cells: Dict[Tuple[str, str], Entry], row_text: Callable[[str], str], notes: List[str]
) -> Table:
    """A table from (row key, column key) -> entry; rows sort as datasets, columns as metrics/shots."""
    full_n = seed_counts(cells.values())
    rows = sorted({r for r, _ in cells}, key=dataset_order)
    cols = sorted({c for _, c in cells}, key=column_order)
    body = [[row_text(r)] + [cell_text(cells.get((r, c)), full_n) for c in cols] for r in rows]
    return Table(title, [corner] + cols, body, notes)


def table_notes(protocol: Protocol, entries: List[Entry]) -> List[str]:
    notes = [STD_NOTE] + ([HM_NOTE] if protocol.name == "base2new" else [])
    if protocol.unit == "targets":
        notes.append("the average is the mean over the targets; the source is not part of it")
    others = sorted({e.dataset for e in entries} - set(protocol.average_over) - {AVERAGE, SOURCE_DATASET})
    if others and {e.dataset for e in entries} & set(protocol.average_over):
        notes.append(f"not in the average (not a published {protocol.unit[:-1]}): {', '.join(others)}")
    return notes


def config_caption(cells: List[Cell]) -> List[str]:
    """Which config each shot count used, when a few-shot method joins several (_epN) configs."""
    by_shots = defaultdict(set)
    for cell in cells:
        by_shots[cell.shots].add(cell.cfg)
    if len(set().union(*by_shots.values())) < 2:
        return []
    shots_by_configs = defaultdict(list)
    for shots, cfgs in sorted(by_shots.items()):
        shots_by_configs[", ".join(sorted(cfgs))].append(shots)
    parts = [
        f"{', '.join(map(str, shots))} shot{'s' if shots != [1] else ''}: {cfgs}"
        for cfgs, shots in shots_by_configs.items()
    ]
    return ["configs: " + "; ".join(parts)]


def method_table(protocol: Protocol, method: Method, entries: List[Entry], cells: List[Cell]) -> Table:
    """Base-to-new and few-shot: datasets x (Base, New, HM) or shots, for one method."""
    notes = table_notes(protocol, entries) + config_caption(cells)
    label = partial(dataset_label, protocol=protocol, entries=entries)
    return grid(
        f"{protocol.title}: {method.label}", "Dataset", {(e.dataset, e.column): e for e in entries}, label, notes
    )


def targets_table(protocol: Protocol, entries: List[Entry]) -> Table:
    """Cross-dataset and DG: datasets (source, targets, their mean) x methods."""
    label = partial(dataset_label, protocol=protocol, entries=entries)
    cells = {(e.dataset, e.method.label): e for e in entries}
    return grid(protocol.title, "Dataset", cells, label, table_notes(protocol, entries))


def averages_table(protocol: Protocol, entries: List[Entry]) -> Table:
    """Few-shot: every method's average row, side by side (base-to-new has ``methods_table``)."""
    averages = {(e.method.label, e.column): e for e in entries if e.dataset == AVERAGE}
    sizes = defaultdict(list)
    for (method, _), e in averages.items():
        sizes[method].append(len(e.summary.over))

    def label(method: str) -> str:
        return f"{method} ({counted(sizes[method], protocol.unit)})"

    table = grid(f"{protocol.title}: averages", "Method", averages, label, [])
    table.rows.sort()
    return table


def delta_text(d: Delta) -> str:
    return f"{d.value - d.baseline:+.2f}"


def comparison_table(c: Comparison) -> Table:
    protocol = PROTOCOLS[c.protocol]
    deltas = {(d.dataset, d.column): delta_text(d) for d in c.deltas}
    rows = sorted({d.dataset for d in c.deltas}, key=dataset_order)
    cols = sorted({d.column for d in c.deltas}, key=column_order)
    common = [len(d.over) for d in c.deltas if d.dataset == AVERAGE]
    labels = {AVERAGE: f"Average ({counted(common, 'common ' + protocol.unit)})"} if common else {}
    body = [[labels.get(r, dataset_title(r))] + [deltas.get((r, col), "–") for col in cols] for r in rows]
    note = (
        f"difference of means, {c.method.label} − {c.baseline.label}, where both have results; "
        f"averages over the common {protocol.unit}"
    )
    return Table(f"{protocol.title}: {c.method.label} vs {c.baseline.label}", ["Dataset"] + cols, body, [note])


def seed_table(protocol: Protocol, entries: List[Entry]) -> Table:
    """Every per-seed number of a protocol (user research #7: per-seed tables, not only means)."""
    measured = sorted((e for e in entries if e.summary.values), key=entry_order)
    seeds = sorted({s for e in measured for s in e.summary.values}, key=seed_order)
    header = ["Method", "Dataset", "Metric"] + [s if s == ZEROSHOT_SEED else f"seed {s}" for s in seeds]
    rows = [
        [e.method.label, dataset_title(e.dataset), e.column]
        + [str(e.summary.values.get(s, "–")) for s in seeds]
        for e in measured
    ]
    return Table(f"{protocol.title}: per-seed values", header, rows, names=3)




def methods_table(protocol: Protocol, entries: List[Entry], hosts: List[Comparison]) -> Table:
    """Base-to-new, every method side by side as in the papers: a block per dataset (the average
    first), a row per method, and under each plug-in variant a Δ row against its host."""
    by_key = {(e.dataset, e.method, e.column): e for e in entries}
    methods = sorted({e.method for e in entries}, key=method_rank)
    datasets = sorted({e.dataset for e in entries}, key=lambda d: (d != AVERAGE, dataset_order(d)))
    full_n = seed_counts(entries)
    host_of = {c.method: c for c in hosts}
    label = partial(dataset_label, protocol=protocol, entries=entries)
    rows = []
    for dataset in datasets:
        block = [m for m in methods if any((dataset, m, c) in by_key for c in B2N_COLUMNS)]
        for i, method in enumerate(block):
            cells = [cell_text(by_key.get((dataset, method, c)), full_n) for c in B2N_COLUMNS]
            rows.append([label(dataset) if i == 0 else "", method.label] + cells)
            comparison = host_of.get(method)
            deltas = {d.column: d for d in comparison.deltas if d.dataset == dataset} if comparison else {}
            if deltas:
                rows.append(["", delta_label(comparison, deltas, by_key)] + [
                    delta_text(deltas[c]) if c in deltas else "–" for c in B2N_COLUMNS
                ])
    notes = table_notes(protocol, entries) + ([DELTA_NOTE] if hosts else [])
    return Table(f"{protocol.title}: methods side by side", ["Dataset", "Method", *B2N_COLUMNS], rows, notes, 2)


def delta_label(c: Comparison, deltas: Dict[str, Delta], by_key: Dict[Tuple[str, Method, str], Entry]) -> str:
    """``Δ vs <host>``; an average Δ over fewer datasets than either row above says over how many."""
    text = f"Δ vs {c.baseline.label}"
    average = deltas.get("Base")
    if average and average.dataset == AVERAGE:
        own_averages = [by_key.get((AVERAGE, m, "Base")) for m in (c.method, c.baseline)]
        shown = {e.summary.over for e in own_averages if e}
        if shown != {average.over}:
            text += f" (over {counted([len(average.over)], 'common datasets')})"
    return text


def protocol_tables(report: Report, protocol: Protocol) -> List[Table]:
    """Base-to-new: one method's grid, or every method side by side; few-shot: a grid per method
    and the averages side by side; cross-dataset and DG: datasets x methods. Then the baseline
    comparisons."""
    entries = [e for e in report.entries if e.protocol == protocol.name]
    if not entries:
        return []
    groups = group_by_method(entries)
    if protocol.unit == "targets":
        tables = [targets_table(protocol, entries)]
    elif protocol.name == "base2new" and len(groups) > 1:
        tables = [methods_table(protocol, entries, [c for c in report.hosts if c.protocol == protocol.name])]
    else:
        tables = []
        for (_, method), group in sorted(groups.items()):
            cells = [c for c in report.cells if c.protocol == protocol.name and c.method == method]
            tables.append(method_table(protocol, method, group, cells))
        if len(groups) > 1:
            tables.append(averages_table(protocol, entries))
    return tables + [comparison_table(c) for c in report.comparisons if c.protocol == protocol.name]
