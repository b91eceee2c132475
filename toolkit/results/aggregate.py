"""Seeds into numbers: mean ± population std per cell, HM, published-style averages, and the
differences of one method against another (a ``--baseline``, or each PLPP variant's host)."""
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .discover import ZEROSHOT_SEED, Cell, Method, seed_order
from .protocols import AVERAGE, PROTOCOLS, SOURCE_DATASET, Protocol, column_order, dataset_order

PLPP = "PLPP"  # the CoOp host's trainer name; every other host's variant is "<Host>_PLPP"
PLPP_HOST = "CoOp"
# Plug-ins in their composition order (trainers/plugins.py): "<Host>_<Plugin>[_<Plugin>]" is the
# host with them; rows follow the host in this order (host, +PLPP, +DePT, +both).
PLUGINS = ("PLPP", "DePT")
# The published base-to-new tables' row order; other methods follow by name, each plug-in variant
# right after its host.
METHOD_ORDER = ("ZeroshotCLIP", "CoOp", "CoCoOp", "KgCoOp", "MaPLe", "IVLP", "PromptSRC")


@dataclass
class Summary:
    mean: float
    std: Optional[float] = None  # None for derived numbers (HM, averages)
    values: Dict[str, float] = field(default_factory=dict)  # per seed
    over: Tuple[str, ...] = ()  # the datasets an average is taken over

    @property
    def n(self) -> Optional[int]:
        """Seeds of a measured number, datasets of an average, None for an HM."""
        return len(self.values) or len(self.over) or None


@dataclass
class Entry:
    """One number of a table: a method's ``column`` (Base, New, HM, shots, metric) on a dataset."""

    protocol: str
    method: Method
    dataset: str  # a dataset key, or AVERAGE
    column: str
    summary: Summary
    shots: Optional[int] = None


def entry_order(e: Entry) -> Tuple[Method, Tuple[int, int, str], Tuple[int, str]]:
    return (e.method, dataset_order(e.dataset), column_order(e.column))


def summarize(values: Dict[str, float]) -> Summary:
    numbers = list(values.values())
    return Summary(float(np.mean(numbers)), float(np.std(numbers)), dict(values))


def harmonic_mean(base: float, new: float) -> float:
    return 2 * base * new / (base + new) if base + new else 0.0


def cell_values(cell: Cell, metric: str) -> Dict[str, float]:
    seeds = sorted(cell.runs, key=seed_order)
    return {seed: cell.runs[seed].metrics[metric] for seed in seeds if metric in cell.runs[seed].metrics}


def shots_column(shots: int) -> str:
    return "zero-shot" if shots == 0 else f"{shots} shot" + ("s" if shots > 1 else "")


def first_values(cells: Sequence[Optional[Cell]], metric: str) -> Dict[str, float]:
    """The per-seed values of the first of ``cells`` that has any."""
    for cell in cells:
        values = cell_values(cell, metric) if cell else {}
        if values:
            return values
    return {}


def base2new_entries(cells: List[Cell], metric: str) -> Iterator[Entry]:
    """Base from the eval-only ``test_base`` runs where they have results, else from the training
    runs' final test; New from ``test_new``; HM of the two seed means."""
    by_part = {(c.method, c.dataset, c.part): c for c in cells}
    for method, dataset in sorted({(c.method, c.dataset) for c in cells}):
        base = first_values([by_part.get((method, dataset, part)) for part in ("test_base", "train_base")], metric)
        new = first_values([by_part.get((method, dataset, "test_new"))], metric)
        summaries = {column: summarize(values) for column, values in (("Base", base), ("New", new)) if values}
        if base and new:
            summaries["HM"] = Summary(harmonic_mean(summaries["Base"].mean, summaries["New"].mean))
        for column, summary in summaries.items():
            yield Entry("base2new", method, dataset, column, summary)


def measured_entries(cells: List[Cell], metric: str) -> Iterator[Entry]:
    """Few-shot, cross-dataset and DG: one number per cell."""
    for cell in cells:
        values = cell_values(cell, metric)
        if values:
            column = shots_column(cell.shots) if cell.protocol == "fewshot" else metric
            yield Entry(cell.protocol, cell.method, cell.dataset, column, summarize(values), cell.shots)


def average_entries(protocol: Protocol, entries: List[Entry]) -> List[Entry]:
    """One method's average row: per column, the mean over the protocol's datasets present.
    Base-to-new averages Base and New over the datasets that have both and takes the HM of the
    two averages, as the published tables do (benchmarks.md 2.2)."""
    rows = [e for e in entries if e.dataset in protocol.average_over and e.column != "HM"]
    if not rows:  # only datasets of the user's own: average over those
        rows = [e for e in entries if e.dataset not in (AVERAGE, SOURCE_DATASET) and e.column != "HM"]
    rows.sort(key=lambda e: dataset_order(e.dataset))
    if protocol.name == "base2new":
        have = defaultdict(set)
        for e in rows:
            have[e.dataset].add(e.column)
        rows = [e for e in rows if have[e.dataset] >= {"Base", "New"}]
    by_column: Dict[str, List[Entry]] = defaultdict(list)
    for e in rows:
        by_column[e.column].append(e)
    averages = []
    for column, group in by_column.items():
        summary = Summary(float(np.mean([e.summary.mean for e in group])), over=tuple(e.dataset for e in group))
        averages.append(Entry(protocol.name, group[0].method, AVERAGE, column, summary, group[0].shots))
    if protocol.name == "base2new" and averages:
        base, new = (next(a for a in averages if a.column == c) for c in ("Base", "New"))
        hm = Summary(harmonic_mean(base.summary.mean, new.summary.mean), over=base.summary.over)
        averages.append(Entry(protocol.name, base.method, AVERAGE, "HM", hm))
    return averages


def group_by_method(entries: Iterable[Entry]) -> Dict[Tuple[str, Method], List[Entry]]:
    groups: Dict[Tuple[str, Method], List[Entry]] = defaultdict(list)
    for entry in entries:
        groups[(entry.protocol, entry.method)].append(entry)
    return groups


def build_entries(cells: List[Cell], metric: str) -> List[Entry]:
    b2n = [c for c in cells if c.protocol == "base2new"]
    entries = [
        *base2new_entries(b2n, metric),
        *measured_entries([c for c in cells if c.protocol != "base2new"], metric),
    ]
    for (protocol, _), group in list(group_by_method(entries).items()):
        entries.extend(average_entries(PROTOCOLS[protocol], group))
    return entries


# ---------------------------------------------------------------------------------------------
# Differences between two methods
# ---------------------------------------------------------------------------------------------


@dataclass
class Delta:
    dataset: str
    column: str
    value: float
    baseline: float
    over: Tuple[str, ...] = ()


@dataclass
class Comparison:
    protocol: str
    method: Method
    baseline: Method
    deltas: List[Delta]
    different_seeds: List[str]  # "dataset column" cells measured on different seeds


def compare(protocol: Protocol, own: List[Entry], base: List[Entry]) -> Comparison:
    """Per-dataset differences on what both methods have, and averages recomputed over those
    common datasets only (an 11-dataset average against a 9-dataset one would mislead)."""
    own_cells = {(e.dataset, e.column): e for e in own if e.dataset != AVERAGE}
    base_cells = {(e.dataset, e.column): e for e in base if e.dataset != AVERAGE}
    common = sorted(own_cells.keys() & base_cells.keys(), key=lambda k: (dataset_order(k[0]), column_order(k[1])))
    deltas = [Delta(d, c, own_cells[d, c].summary.mean, base_cells[d, c].summary.mean) for d, c in common]
    own_avg = average_entries(protocol, [own_cells[k] for k in common])
    base_avg = {e.column: e.summary.mean for e in average_entries(protocol, [base_cells[k] for k in common])}
    deltas += [Delta(AVERAGE, a.column, a.summary.mean, base_avg[a.column], a.summary.over) for a in own_avg]
    return Comparison(
        protocol.name, own[0].method, base[0].method, deltas, different_seeds(common, own_cells, base_cells)
    )


def different_seeds(
    keys: List[Tuple[str, str]], own: Dict[Tuple[str, str], Entry], base: Dict[Tuple[str, str], Entry]
) -> List[str]:
    """Cells whose two means come from different seeds (zero-shot CLIP has no seeds to match)."""
    differing = []
    for key in keys:
        own_seeds, base_seeds = own[key].summary.values.keys(), base[key].summary.values.keys()
        if own_seeds != base_seeds and ZEROSHOT_SEED not in own_seeds | base_seeds:
            differing.append(" ".join(key))
    return differing


def comparisons(entries: List[Entry], baseline: str) -> List[Comparison]:
    groups = group_by_method(entries)
    result = []
    for (protocol, base_method), base in groups.items():
        if not base_method.matches(baseline):
            continue
        for (other_protocol, method), own in groups.items():
            if other_protocol == protocol and not method.matches(baseline):
                result.append(compare(PROTOCOLS[protocol], own, base))
    return [c for c in result if c.deltas]  # methods with nothing in common are not compared


def split_plugins(trainer: str) -> Tuple[str, Tuple[str, ...]]:
    """(host, plug-ins) of a trainer name: ``CoOp_PLPP_DePT`` -> (CoOp, (PLPP, DePT)), ``PLPP`` ->
    (CoOp, (PLPP,)), ``CoOp`` -> (CoOp, ())."""
    if trainer.upper() == PLPP:
        return PLPP_HOST, (PLPP,)
    names = {p.upper(): p for p in PLUGINS}
    parts = trainer.split("_")
    plugins: List[str] = []
    while len(parts) > 1 and parts[-1].upper() in names:
        plugins.insert(0, names[parts.pop().upper()])
    return "_".join(parts), tuple(plugins)


def host_trainer(trainer: str) -> str:
    """The trainer a plug-in variant adds to: ``<Host>_PLPP``, ``<Host>_DePT``,
    ``<Host>_PLPP_DePT`` -> ``<Host>``, ``PLPP`` -> CoOp; "" for a trainer that is no variant."""
    host, plugins = split_plugins(trainer)
    return host if plugins else ""


def host_of(method: Method, methods: Iterable[Method]) -> Optional[Method]:
    """The host run a PLPP variant is compared with: the host trainer's method of the same
    variant (shots folder or settings), with the same config (and grid point) if there is one, else its only one."""
    host = host_trainer(method.trainer).lower()
    candidates = sorted(m for m in methods if host and m.trainer.lower() == host and m.variant == method.variant)
    same_cfg = [m for m in candidates if m.cfg == method.cfg]
    same_point = [m for m in same_cfg if m.point == method.point]  # a grid point's host at the same point
    return (same_point or same_cfg)[0] if same_cfg else (candidates[0] if len(candidates) == 1 else None)


def host_comparisons(entries: List[Entry], protocol: str = "base2new") -> List[Comparison]:
    """Each PLPP variant against its host, where both have results in ``protocol``."""
    groups = {method: group for (p, method), group in group_by_method(entries).items() if p == protocol}
    found = []
    for method, own in sorted(groups.items()):
        host = host_of(method, groups)
        if host:
            found.append(compare(PROTOCOLS[protocol], own, groups[host]))
    return [c for c in found if c.deltas]


def method_rank(method: Method) -> Tuple[int, str, int, Tuple[int, ...], Method]:
    """Zero-shot CLIP first, then METHOD_ORDER, then other methods by name; each plug-in variant
    right after its host's runs: one plug-in before two, in the order of ``PLUGINS``."""
    host, plugins = split_plugins(method.trainer)
    name = host.lower()
    known = [m.lower() for m in METHOD_ORDER]
    rank = 0 if name.startswith("zeroshotclip") else (known.index(name) if name in known else len(known))
    return (rank, name, len(plugins), tuple(PLUGINS.index(p) for p in plugins), method)
