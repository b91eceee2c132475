"""The files the results command writes: CSV (one row per number, one column per seed), JSON
(numbers, comparisons, every run read and why it has no result), Markdown, LaTeX and the plots."""
import csv
import json
import os
import os.path as osp
from datetime import datetime
from functools import partial
from typing import List

from .aggregate import Comparison, Entry, entry_order
from .discover import seed_order
from .paper import lookup, worst_first
from .plots import PLOT_FILES, plot_base2new, plot_fewshot
from .render import report_latex, report_markdown
from .report import Report
from .tables import HM_NOTE, STD_NOTE


def entry_record(e: Entry) -> dict:
    return {
        "protocol": e.protocol,
        "method": e.method.label,
        "trainer": e.method.trainer,
        "cfg": e.method.cfg,
        "variant": e.method.variant,
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
    fields = ["protocol", "method", "trainer", "cfg", "variant", "dataset", "metric", "shots", "mean", "std", "n"]
    paper = lookup(report.paper)
    paper_fields = ["published", "difference", "reproduces", "published_source"] if report.compare_published else []
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields + [f"seed{s}" if s.isdigit() else s for s in seeds] + ["averaged_over"] + paper_fields)
        for e in sorted(report.entries, key=lambda e: (e.protocol, entry_order(e))):
            record = entry_record(e)
            cell = paper.get((e.protocol, e.method, e.dataset, e.column))
            published = [cell.published, round(cell.difference, 4), cell.reproduces, cell.table.describe()] if cell else [
                ""] * len(paper_fields)
            writer.writerow(
                [record[k] for k in fields] + [e.summary.values.get(s, "") for s in seeds] + [" ".join(e.summary.over)]
                + published[: len(paper_fields)]
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


def write_json(report: Report, path: str) -> None:
    data = {
        "root": osp.abspath(report.root),
        "generated": datetime.now().isoformat(timespec="seconds"),
        "metric": report.metric,
        "std": STD_NOTE,
        "base2new_average": HM_NOTE,
        "entries": [entry_record(e) for e in report.entries],
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
    paths = {ext: osp.join(out_dir, f"results.{ext}") for ext in ("md", "tex", "csv", "json")}
    report.files = list(paths.values()) + drawn
    for ext, text in (("md", report_markdown(report, drawn)), ("tex", report_latex(report))):
        with open(paths[ext], "w", encoding="utf-8") as f:
            f.write(text)
    write_csv(report, paths["csv"])
    write_json(report, paths["json"])
    return report.files
