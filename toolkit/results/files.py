"""The files the results command writes: CSV (one row per number, one column per seed), JSON
(numbers, comparisons, every run read and why it has no result, the settings each number came
from), Markdown, LaTeX and the plots."""
import csv
import json
import os
import os.path as osp
from datetime import datetime
from collections import defaultdict
from functools import partial
from typing import Dict, List, Optional, Set, Tuple

from .ablation import ABLATION_PLOT, ablations, plot_ablation
from .aggregate import Comparison, Entry, entry_order
from .discover import seed_order
from .paper import lookup, worst_first
from .plots import PLOT_FILES, plot_base2new, plot_fewshot
from .protocols import PROTOCOLS
from .render import report_latex, report_markdown
from .report import Report
from .settings import settings_id
from .tables import HM_NOTE, STD_NOTE


def settings_index(report: Report) -> Dict[Tuple, Set[str]]:
    """(protocol, method, dataset, shots) -> the settings ids of the runs behind that number."""
    index: Dict[Tuple, Set[str]] = defaultdict(set)
    for cell in report.cells:
        shots = cell.shots if cell.protocol == "fewshot" else None
        index[(cell.protocol, cell.method, cell.dataset, shots)].update(
            settings_id(run.settings) for run in cell.runs.values() if run.settings is not None)
    return index


def entry_settings(e: Entry, index: Dict[Tuple, Set[str]]) -> List[str]:
    """The settings ids behind one number (an average: behind each number it averages)."""
    shots = e.shots if e.protocol == "fewshot" else None
    found = set().union(*(index.get((e.protocol, e.method, d, shots), set()) for d in e.summary.over or (e.dataset,)))
    return sorted(found)


def entry_record(e: Entry, index: Optional[Dict[Tuple, Set[str]]] = None) -> dict:
    return {
        "protocol": e.protocol,
        "method": e.method.label,
        "trainer": e.method.trainer,
        "cfg": e.method.cfg,
        "variant": e.method.variant,
        "point": e.method.point,
        "settings": entry_settings(e, index or {}),
        "dataset": e.dataset,
        "metric": e.column,
        "shots": e.shots,
        "mean": round(e.summary.mean, 4),
        "std": None if e.summary.std is None else round(e.summary.std, 4),
        "n": e.summary.n,
        "values": e.summary.values,
        "over": list(e.summary.over),
    }


def write_csv(report: Report, path: str) -> None:
    """One row per method, dataset and metric: mean, std, n and one column per seed."""
    seeds = sorted({s for e in report.entries for s in e.summary.values}, key=seed_order)
    fields = ["protocol", "method", "trainer", "cfg", "variant", "point", "dataset", "metric", "shots", "mean", "std", "n"]
    index = settings_index(report)
    paper = lookup(report.paper)
    paper_fields = ["published", "difference", "reproduces", "published_source"] if report.compare_published else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields + [f"seed{s}" if s.isdigit() else s for s in seeds] + ["averaged_over", "settings"]
                        + paper_fields)
        for e in sorted(report.entries, key=lambda e: (e.protocol, entry_order(e))):
            record = entry_record(e, index)
            cell = paper.get((e.protocol, e.method, e.dataset, e.column))
            published = [cell.published, round(cell.difference, 4), cell.reproduces, cell.table.describe()] if cell else [
                ""] * len(paper_fields)
            writer.writerow(
                [record[k] for k in fields] + [e.summary.values.get(s, "") for s in seeds]
                + [" ".join(e.summary.over), " ".join(record["settings"])] + published[: len(paper_fields)]
            )


def run_records(report: Report) -> List[dict]:
    """Every run read, with where its result came from (or why there is none)."""
    records = []
    for c in report.cells:
        context = {
            "protocol": c.protocol,
            "method": c.method.label,
            "dataset": c.dataset,
            "part": c.part,
            "shots": c.shots,
            "config": c.cfg,
        }
        for run in c.runs.values():
            records.append(
                {
                    **context,
                    "seed": run.seed,
                    "folder": run.folder,
                    "log": run.log,
                    "status": run.status,
                    "detail": run.detail,
                    "metrics": run.metrics,
                    "settings": settings_id(run.settings),
                }
            )
    return records


def comparison_record(c: Comparison) -> dict:
    rows = [
        {
            "dataset": d.dataset,
            "metric": d.column,
            "value": round(d.value, 4),
            "baseline": round(d.baseline, 4),
            "delta": round(d.value - d.baseline, 4),
        }
        for d in c.deltas
    ]
    return {
        "protocol": c.protocol,
        "method": c.method.label,
        "baseline": c.baseline.label,
        "different_seeds": c.different_seeds,
        "rows": rows,
    }


def run_settings(report: Report) -> Dict[str, dict]:
    """Every recorded settings of the runs read, by id (``settings`` of the entries and runs);
    the settings that cannot change a result (folders, workers, seed) are left out."""
    found = {}
    for cell in report.cells:
        for run in cell.runs.values():
            if run.settings is not None:
                found[settings_id(run.settings)] = run.settings
    return dict(sorted(found.items()))


def write_json(report: Report, path: str) -> None:
    index = settings_index(report)
    data = {
        "root": osp.abspath(report.root),
        "generated": datetime.now().isoformat(timespec="seconds"),
        "metric": report.metric,
        "std": STD_NOTE,
        "base2new_average": HM_NOTE,
        "entries": [entry_record(e, index) for e in report.entries],
        "settings": run_settings(report),
        "comparisons": [comparison_record(c) for c in report.comparisons],
        "host_comparisons": [comparison_record(c) for c in report.hosts],
        "runs": run_records(report),
        "published": [c.record() for c in report.paper],
        "reproduction_report": [c.record() for c in worst_first(report.paper)],
        "warnings": [{"kind": n.kind, "message": n.message} for n in report.notes],
        "files": report.files,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def write_outputs(report: Report, out_dir: str, plots: bool = True) -> List[str]:
    """Plots (when their data exists), ``results.md``, ``results.tex``, ``results.csv`` and
    ``results.json``."""
    os.makedirs(out_dir, exist_ok=True)
    drawn = []
    if plots:
        for name, draw in zip(PLOT_FILES, (partial(plot_fewshot, published=report.paper), plot_base2new)):
            path = osp.join(out_dir, name)
            if draw(report.entries, path, report.metric):
                drawn.append(path)
        found = [a for name in report.protocols for a in ablations(PROTOCOLS[name], report.entries)]
        if plot_ablation(found, osp.join(out_dir, ABLATION_PLOT)):
            drawn.append(osp.join(out_dir, ABLATION_PLOT))
    paths = {ext: osp.join(out_dir, f"results.{ext}") for ext in ("md", "tex", "csv", "json")}
    report.files = list(paths.values()) + drawn
    for ext, text in (("md", report_markdown(report, drawn)), ("tex", report_latex(report))):
        with open(paths[ext], "w", encoding="utf-8") as f:
            f.write(text)
    write_csv(report, paths["csv"])
    write_json(report, paths["json"])
    return report.files
