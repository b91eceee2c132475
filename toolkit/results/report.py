"""Everything the tables, files and plots are made from: the runs read, their numbers, the
comparisons and the warnings, collected in one pass."""
from dataclasses import dataclass, field
from typing import List, Sequence

from .aggregate import Comparison, Entry, build_entries, comparisons, host_comparisons
from .checks import (
    Note,
    average_notes,
    collapse_notes,
    comparison_notes,
    missing_run_notes,
    run_notes,
    seed_notes,
)
from .discover import Cell, discover, select
from .paper import PaperCell, paper_cells
from .protocols import PROTOCOLS
from .settings import split_by_settings


@dataclass
class Report:
    root: str
    metric: str
    protocols: List[str]
    cells: List[Cell]
    entries: List[Entry]
    comparisons: List[Comparison]  # with --baseline
    notes: List[Note]
    hosts: List[Comparison] = field(default_factory=list)  # each PLPP variant against its host (base-to-new)
    files: List[str] = field(default_factory=list)
    paper: List[PaperCell] = field(default_factory=list)  # ours beside the published numbers
    compare_published: bool = True  # --no-published turns the comparison off


def collect(
    root: str,
    protocols: Sequence[str] = tuple(PROTOCOLS),
    trainers: Sequence[str] = (),
    cfgs: Sequence[str] = (),
    baseline: str = "",
    metric: str = "accuracy",
    compare_published: bool = True,
) -> Report:
    """Read, aggregate and check every selected run under ``root``."""
    cells, split = split_by_settings(select(discover(root), protocols, trainers, cfgs, baseline))
    entries = build_entries(cells, metric)
    found = comparisons(entries, baseline) if baseline else []
    hosts = host_comparisons(entries)
    notes = [
        *(Note("settings-differ", message) for message in split),
        *run_notes(cells, root, metric),
        *seed_notes(cells),
        *missing_run_notes(cells),
        *collapse_notes(entries),
        *average_notes(entries),
        *comparison_notes(found, baseline, hosts),
    ]
    selected = [p for p in PROTOCOLS if p in protocols]
    paper = paper_cells(entries, metric) if compare_published else []
    return Report(root, metric, selected, cells, entries, found, list(dict.fromkeys(notes)), hosts,
                  paper=paper, compare_published=compare_published)
