"""Warnings: what makes a number wrong or not comparable, each with what to do about it.

Missing seeds, unfinished runs, logs without a result, several results in one folder,
half-done protocols, collapsed seeds, averages over fewer datasets than the published ones, and
comparisons over different seeds.
"""
import os.path as osp
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np

from .aggregate import Comparison, Entry, shots_column
from .discover import Cell, Method, seed_order
from .protocols import AVERAGE, PROTOCOLS, column_order

# A seed is "collapsed" when it lies this far below the median of the other seeds of its cell.
COLLAPSE_POINTS = 15.0
COLLAPSE_STDS = 3.0  # ... or this many std of the other seeds (needs two or more of them),
COLLAPSE_MIN_POINTS = 5.0  # ... and then at least this many points


@dataclass(frozen=True)
class Note:
    kind: str  # missing-seed, unfinished, collapsed-seed, ... (one per *_notes check)
    message: str


def seeds_text(seeds: Iterable[str]) -> str:
    seeds = sorted(seeds, key=seed_order)
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(seeds)


def where(cell: Cell) -> str:
    shots = f" {shots_column(cell.shots)}" if cell.shots is not None else ""
    return f"{cell.protocol} {cell.method.label} {cell.dataset}{shots}"


def run_notes(cells: List[Cell], root: str, metric: str) -> Iterator[Note]:
    for cell in cells:
        for run in cell.runs.values():
            path = osp.relpath(run.folder, root)
            if run.status == "unfinished":
                yield Note(
                    "unfinished", f"{path}: unfinished run ({run.detail}); still running, or rerun its script to resume"
                )
            elif run.status == "no-log":
                yield Note("no-log", f"{path}: no log.txt (the run never started?)")
            elif metric not in run.metrics:
                detail = run.detail.replace("<metric>", metric) or f"its result block has no '* {metric}: X%' line"
                yield Note("no-result", f"{path}: no result ({detail})")
            if run.older_results:
                older = ", ".join(run.older_results)
                yield Note(
                    "several-results",
                    f"{path}: older logs with a different result ({older}); using the newest, {run.log}",
                )


MISSING_SEED_HINTS = {
    "train_base": "base2new_train.sh {dataset} {seed}",
    "test_base": "SUB=base base2new_test.sh {dataset} {seed}",
    "test_new": "base2new_test.sh {dataset} {seed}",
    "source": "xd_train.sh {seed}",
    "target": "xd_test.sh {dataset} {seed}",
}


def seed_notes(cells: List[Cell]) -> Iterator[Note]:
    """Every part of a method should have the seeds seen anywhere for that method and protocol."""
    groups: Dict[Tuple[str, Method], List[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.protocol, cell.method)].append(cell)
    for group in groups.values():
        expected = set().union(*(cell.runs for cell in group))
        for cell in group:
            missing = expected - set(cell.runs)
            if not missing:
                continue
            first = min(missing, key=seed_order)
            hint = MISSING_SEED_HINTS.get(cell.part, "").format(dataset=cell.dataset, seed=first)
            yield Note(
                "missing-seed",
                f"{where(cell)} ({cell.part}): {seeds_text(missing)} missing, other runs of this method have "
                f"{seeds_text(expected)}" + (f"; e.g. run {hint}" if hint else ""),
            )


def missing_run_notes(cells: List[Cell]) -> Iterator[Note]:
    """Half-done protocols: base classes without new classes (or the reverse), targets without
    their ImageNet source."""
    parts = defaultdict(set)
    for cell in cells:
        parts[(cell.protocol, cell.method, cell.dataset)].add(cell.part)
    for (protocol, method, dataset), have in parts.items():
        if protocol != "base2new":
            continue
        if "test_new" not in have:
            yield Note(
                "missing-run", f"base2new {method.label} {dataset}: no test_new runs (base2new_test.sh {dataset} SEED)"
            )
        if not have & {"train_base", "test_base"}:
            yield Note("missing-run", f"base2new {method.label} {dataset}: test_new runs but no base-class runs")
    with_source = {(protocol, method) for (protocol, method, _), have in parts.items() if "source" in have}
    for protocol, method in sorted({(p, m) for (p, m, _), have in parts.items() if "target" in have} - with_source):
        yield Note("missing-run", f"{protocol} {method.label}: targets but no ImageNet source run (xd_train.sh SEED)")


def collapsed_seeds(values: Dict[str, float]) -> List[Tuple[str, float, float]]:
    """(seed, value, median of the others) for seeds far below the other seeds; user research #7:
    CoOp on DTD gave 12.0 / 15.2 / 63.4 over three seeds."""
    collapsed = []
    for seed, value in values.items():
        others = [v for s, v in values.items() if s != seed]
        if not others:
            continue
        median = float(np.median(others))
        gap = median - value
        spread_rule = len(others) >= 2 and gap > max(COLLAPSE_MIN_POINTS, COLLAPSE_STDS * float(np.std(others)))
        if gap > COLLAPSE_POINTS or spread_rule:
            collapsed.append((seed, value, median))
    return collapsed


def collapse_notes(entries: List[Entry]) -> Iterator[Note]:
    for e in entries:
        for seed, value, median in collapsed_seeds(e.summary.values):
            yield Note(
                "collapsed-seed",
                f"{e.protocol} {e.method.label} {e.dataset} {e.column}: seed {seed} = {value:.1f} is "
                f"{median - value:.1f} points below the other seeds' median ({median:.1f}); collapsed run? "
                "(it is included in the mean)",
            )


def average_notes(entries: List[Entry]) -> Iterator[Note]:
    """Averages over fewer datasets than the published ones are not comparable with them."""
    missing_columns = defaultdict(list)
    for e in entries:
        if e.dataset == AVERAGE:
            expected = PROTOCOLS[e.protocol].average_over
            if not set(expected) & set(e.summary.over):
                continue  # an average over the user's own datasets: nothing published to compare
            missing = tuple(d for d in expected if d not in e.summary.over)
            if missing:
                missing_columns[(e.protocol, e.method, missing)].append(e.column)
    for (protocol, method, missing), columns in missing_columns.items():
        p = PROTOCOLS[protocol]
        present = [d for d in p.average_over if d not in missing]
        which = f"missing: {', '.join(missing)}" if len(missing) <= len(present) else f"only {', '.join(present)}"
        yield Note(
            "partial-average",
            f"{protocol} {method.label} ({', '.join(sorted(columns, key=column_order))}): average over "
            f"{len(present)} of the {len(p.average_over)} {p.unit} ({which}); not comparable with published averages",
        )


def comparison_notes(found: List[Comparison], baseline: str, hosts: Sequence[Comparison] = ()) -> Iterator[Note]:
    """The baseline that compared with nothing; comparisons (with the baseline or a PLPP
    variant's host) whose two sides were measured on different seeds."""
    if baseline and not found:
        yield Note(
            "baseline", f"baseline {baseline} has no results in the selected protocols, or nothing to compare it with"
        )
    for c in [*found, *hosts]:
        if c.different_seeds:
            yield Note(
                "different-seeds",
                f"{c.protocol} {c.method.label} vs {c.baseline.label}: "
                f"different seeds on {', '.join(c.different_seeds)}",
            )
