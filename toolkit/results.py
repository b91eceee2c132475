"""Turn the protocol scripts' output folders into tables for a paper, with the problems flagged.

    python -m toolkit.results [ROOT] [--protocol base2new,fewshot,xd,dg] [--trainer PLPP,CoOp]
                              [--cfg CFG] [--baseline TRAINER[/CFG]] [--metric accuracy]
                              [--out DIR] [--no-plots]

ROOT is the scripts' output folder (default ``output``). Every run's log is read as CoOp's
``parse_test_res.py`` reads it: the last ``* accuracy: X%`` after "Finish training" (or
"Finished training"), or after "=> result" for evaluation-only runs. Runs of the reference
CoOp/CoCoOp/MaPLe repositories (same folders, no ``finished.json``) therefore parse too.

Per protocol and method (trainer + config) it prints mean ± std over seeds (population std, as
``parse_test_res.py``) and the seed count:
  base-to-new    Base, New, HM per dataset; the average row is the HM of the mean Base and the mean
                 New over the 11 datasets, as the published tables compute it;
  few-shot       dataset x shots (CoOp's *_ep50/*_ep100 configs for few shots join one curve);
  cross-dataset  ImageNet source, the 10 targets and their mean;
  domain gen.    ImageNet source, the 4 ImageNet variants and their mean.
Zero-shot CLIP (``ZeroshotCLIP/<cfg>/<dataset>``, ``.../<cfg>/zeroshot``) shows as a one-run row.
A folder with several logs (a resumed run adds ``log.txt-<time>``) counts the newest with a result.
``--baseline`` adds, per other method, the differences on the datasets both have.
It warns about missing seeds, unfinished runs, logs without a result and collapsed seeds, and
writes ``results.md``, ``results.csv``, ``results.json`` and PNG plots to ``--out`` (default
``ROOT/results``). Exit status: 0, 1 when no run was found, 2 for a bad command line.
"""

import argparse
import csv
import json
import os
import os.path as osp
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

# The 11 datasets of the published tables, then the 4 ImageNet variants, as the tables name them.
DISPLAY_NAMES = {
    "imagenet": "ImageNet",
    "caltech101": "Caltech101",
    "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars",
    "oxford_flowers": "Flowers102",
    "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft",
    "sun397": "SUN397",
    "dtd": "DTD",
    "eurosat": "EuroSAT",
    "ucf101": "UCF101",
    "imagenetv2": "ImageNet-V2",
    "imagenet_sketch": "ImageNet-Sketch",
    "imagenet_a": "ImageNet-A",
    "imagenet_r": "ImageNet-R",
}
BENCHMARK_DATASETS = tuple(DISPLAY_NAMES)[:11]
DG_TARGETS = tuple(DISPLAY_NAMES)[11:]
SOURCE_DATASET = "imagenet"
XD_TARGETS = BENCHMARK_DATASETS[1:]
AVERAGE = "average"  # the dataset key of average rows

FINISHED_MARKER = "finished.json"  # written by toolkit.run_record.mark_finished (not imported: it needs torch)
TRAIN_END_SIGNALS = ("Finish training", "Finished training")  # Dassl; the MaPLe/PromptSRC forks' wording
EVAL_END_SIGNALS = ("=> result",)
METRIC_LINE = re.compile(r"^\* (\w+): ([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)%$")
PROGRESS = re.compile(r"epoch \[\d+/\d+\]")
SEED_DIR = re.compile(r"^seed(\d+)$")
ZEROSHOT_SEED = "zeroshot"  # zero-shot CLIP: one deterministic run instead of seeds
SHOTS_DIR = re.compile(r"^(.+)_(\d+)shots$")
EPOCH_SUFFIX = re.compile(r"_ep\d+$")
B2N_PARTS = ("train_base", "test_base", "test_new")

# A seed is "collapsed" when it lies this far below the median of the other seeds of its cell.
COLLAPSE_POINTS = 15.0
COLLAPSE_STDS = 3.0  # ... or this many std of the other seeds (needs two or more of them),
COLLAPSE_MIN_POINTS = 5.0  # ... and then at least this many points

STD_NOTE = "mean ± std over seeds; std is the population std (ddof=0), as CoOp's parse_test_res.py"
HM_NOTE = (
    "HM = 2·B·N/(B+N) of the seed means; Average = HM of the mean Base and the mean New over the datasets, "
    "as in the papers (not the mean of the per-dataset HMs)"
)
PLOT_FILES = ("fewshot_curves.png", "base2new_bars.png")
LAYOUTS = (
    "base2new/{train_base,test_new}/<dataset>/shots_16/<Trainer>/<cfg>/seed<S>",
    "<dataset>/<Trainer>/<cfg>_<K>shots/nctx<N>_csc<C>_ctp<P>/seed<S>",
    "imagenet/<Trainer>/<cfg>_16shots/seed<S> and evaluation/<Trainer>/<cfg>_16shots/<dataset>/seed<S>",
)


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    average_over: Tuple[str, ...]  # datasets the average row is taken over
    unit: str


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("base2new", "Base-to-new generalisation", BENCHMARK_DATASETS, "datasets"),
        Protocol("fewshot", "Few-shot learning", BENCHMARK_DATASETS, "datasets"),
        Protocol("xd", "Cross-dataset transfer (source ImageNet)", XD_TARGETS, "targets"),
        Protocol("dg", "Domain generalisation (source ImageNet)", DG_TARGETS, "targets"),
    )
}


# ---------------------------------------------------------------------------------------------
# One run folder
# ---------------------------------------------------------------------------------------------


@dataclass
class LogReading:
    metrics: Dict[str, float]  # ``* name: X%`` lines after the end signal; the last of each wins
    ended: bool  # the end signal was seen
    progress: str  # the last "epoch [a/b]" before it, to tell how far an unfinished run got


def read_log(path: str, eval_only: bool) -> LogReading:
    signals = EVAL_END_SIGNALS if eval_only else TRAIN_END_SIGNALS
    metrics: Dict[str, float] = {}
    ended, progress = False, ""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line in signals:
                ended = True
            elif ended and (match := METRIC_LINE.match(line)):
                metrics[match.group(1)] = float(match.group(2))
            elif not ended and (match := PROGRESS.search(line)):
                progress = match.group(0)
    return LogReading(metrics, ended, progress)


def log_files(folder: str) -> List[str]:
    """Oldest first: a rerun into the same folder writes ``log.txt-<time>`` next to ``log.txt``."""
    names = [n for n in os.listdir(folder) if n == "log.txt" or n.startswith("log.txt-")]
    return sorted(names, key=lambda n: (n != "log.txt", n))


@dataclass
class Run:
    folder: str
    seed: str
    metrics: Dict[str, float] = field(default_factory=dict)
    status: str = "ok"  # ok | unfinished | no-result | no-log
    detail: str = ""  # why it is not ok
    log: str = ""  # the log file the result comes from
    older_results: Tuple[str, ...] = ()  # older logs holding a different result


def read_run(folder: str, seed: str, eval_only: bool) -> Run:
    """The newest log with a result wins (an interrupted first attempt leaves one without)."""
    logs = log_files(folder)
    if not logs:
        return Run(folder, seed, status="no-log", detail="no log.txt")
    readings = [(name, read_log(osp.join(folder, name), eval_only)) for name in logs]
    with_result = [(name, reading) for name, reading in readings if reading.metrics]
    if with_result:
        name, reading = with_result[-1]
        older = tuple(n for n, r in with_result[:-1] if r.metrics != reading.metrics)
        return Run(folder, seed, reading.metrics, log=name, older_results=older)
    signal = (EVAL_END_SIGNALS if eval_only else TRAIN_END_SIGNALS)[0]
    newest = readings[-1][1]
    if newest.ended or osp.isfile(osp.join(folder, FINISHED_MARKER)):
        return Run(folder, seed, status="no-result", detail=f"no '* <metric>: X%' line after '{signal}'")
    progress = f", last progress {newest.progress}" if newest.progress else ""
    return Run(folder, seed, status="unfinished", detail=f"no '{signal}' in the log{progress}")


# ---------------------------------------------------------------------------------------------
# Finding the runs in the scripts' layouts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Method:
    trainer: str
    cfg: str
    variant: str = ""  # few-shot prompt settings, or a non-standard shots folder

    @property
    def label(self) -> str:
        return f"{self.trainer}/{self.cfg}" + (f" {self.variant}" if self.variant else "")

    def matches(self, spec: str) -> bool:
        """``spec`` is TRAINER or TRAINER/CFG, case-insensitive."""
        trainer, _, cfg = spec.lower().partition("/")
        return self.trainer.lower() == trainer and (not cfg or self.cfg.lower() == cfg)


@dataclass
class Cell:
    """The seed runs of one method on one dataset for one part of a protocol."""

    protocol: str
    method: Method
    dataset: str
    part: str  # train_base | test_base | test_new | fewshot | source | target
    runs: Dict[str, Run]  # by seed
    shots: Optional[int] = None  # few-shot only; 0 for zero-shot CLIP
    cfg: str = ""  # the config folder (few-shot methods may join several)


def subdirs(path: str) -> List[str]:
    """Sorted sub-folders, without hidden ones and the ``*.replaced-<time>`` that --force keeps."""
    if not osp.isdir(path):
        return []
    names = (n for n in os.listdir(path) if not n.startswith(".") and ".replaced-" not in n)
    return sorted(n for n in names if osp.isdir(osp.join(path, n)))


def folders_at(path: str, depth: int) -> Iterator[Tuple[Tuple[str, ...], str]]:
    """(names, folder) for every folder ``depth`` levels below ``path``."""
    if depth == 0:
        yield (), path
        return
    for name in subdirs(path):
        for names, folder in folders_at(osp.join(path, name), depth - 1):
            yield (name,) + names, folder


def seed_key(name: str) -> Optional[str]:
    match = SEED_DIR.match(name)
    return match.group(1) if match else (ZEROSHOT_SEED if name == ZEROSHOT_SEED else None)


def seed_order(seed: str) -> Tuple[int, int, str]:
    return (0, int(seed), "") if seed.isdigit() else (1, 0, seed)


def seed_runs(folder: str, eval_only: bool) -> Dict[str, Run]:
    runs = {}
    for name in subdirs(folder):
        seed = seed_key(name)
        if seed:
            runs[seed] = read_run(osp.join(folder, name), seed, eval_only)
    return runs


def discover_base2new(root: str) -> Iterator[Cell]:
    """``base2new/<part>/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>``."""
    for (part, dataset, shots, trainer, cfg), folder in folders_at(osp.join(root, "base2new"), 5):
        runs = seed_runs(folder, eval_only=part != "train_base") if part in B2N_PARTS else {}
        if runs:
            method = Method(trainer, cfg, "" if shots == "shots_16" else shots)
            yield Cell("base2new", method, dataset, part, runs, cfg=cfg)


def discover_trained(root: str) -> Iterator[Cell]:
    """Few-shot ``<dataset>/<Trainer>/<cfg>_<K>shots/<settings>/seed<S>`` (PromptSRC: no settings
    folder) and the cross-dataset source ``imagenet/<Trainer>/<cfg>_16shots/seed<S>``."""
    for (dataset, trainer, cfg_shots), folder in folders_at(root, 3):
        match = SHOTS_DIR.match(cfg_shots)
        if dataset in ("base2new", "evaluation") or not match:
            continue
        cfg, shots = match.group(1), int(match.group(2))
        direct = seed_runs(folder, eval_only=False)
        if direct and dataset == SOURCE_DATASET and shots == 16:
            yield Cell("source", Method(trainer, cfg), dataset, "source", direct, cfg=cfg)
        elif direct:
            yield Cell("fewshot", Method(trainer, cfg), dataset, "fewshot", direct, shots, cfg)
        for settings in subdirs(folder):
            runs = {} if seed_key(settings) else seed_runs(osp.join(folder, settings), eval_only=False)
            if runs:
                yield Cell("fewshot", Method(trainer, cfg, settings), dataset, "fewshot", runs, shots, cfg)


def discover_targets(root: str) -> Iterator[Cell]:
    """``evaluation/<Trainer>/<cfg>_<K>shots/<dataset>/seed<S>``."""
    for (trainer, cfg_shots, dataset), folder in folders_at(osp.join(root, "evaluation"), 3):
        match = SHOTS_DIR.match(cfg_shots)
        runs = seed_runs(folder, eval_only=True) if match else {}
        if runs:
            variant = "" if match.group(2) == "16" else f"{match.group(2)}shots"
            protocol = "dg" if dataset in DG_TARGETS else "xd"
            yield Cell(protocol, Method(trainer, match.group(1), variant), dataset, "target", runs, cfg=match.group(1))


def discover_zeroshot(root: str) -> Iterator[Cell]:
    """``ZeroshotCLIP*/<cfg>/<dataset>``: one run that serves as the zero-shot point of the
    few-shot curves and as the CLIP row of the cross-dataset and DG tables."""
    for (trainer, cfg, dataset), folder in folders_at(root, 3):
        if not trainer.startswith("ZeroshotCLIP"):
            continue
        runs = {ZEROSHOT_SEED: read_run(folder, ZEROSHOT_SEED, eval_only=True)}
        method = Method(trainer, cfg)
        if dataset not in DG_TARGETS:
            yield Cell("fewshot", method, dataset, "fewshot", runs, 0, cfg)
        if dataset == SOURCE_DATASET:
            yield Cell("source", method, dataset, "source", runs, cfg=cfg)
        else:
            yield Cell("dg" if dataset in DG_TARGETS else "xd", method, dataset, "target", runs, cfg=cfg)


def attach_sources(cells: List[Cell]) -> List[Cell]:
    """The ImageNet source run heads both the cross-dataset and the DG table: put it in each
    protocol where the method has targets (cross-dataset when it has none yet)."""
    target_protocols = defaultdict(set)
    for cell in cells:
        if cell.part == "target":
            target_protocols[cell.method].add(cell.protocol)
    attached = []
    for cell in cells:
        if cell.protocol != "source":
            attached.append(cell)
            continue
        for protocol in sorted(target_protocols[cell.method]) or ["xd"]:
            attached.append(replace(cell, protocol=protocol))
    return attached


def join_epoch_configs(cells: List[Cell]) -> None:
    """CoOp's few-shot recipe trains 1 shot with ``<cfg>_ep50``, 2/4 shots with ``<cfg>_ep100`` and
    8/16 shots with ``<cfg>``: show them as one method unless two configs share a dataset and shots."""
    groups = defaultdict(list)
    for cell in cells:
        if cell.protocol == "fewshot" and cell.shots:
            groups[(cell.method.trainer, EPOCH_SUFFIX.sub("", cell.method.cfg), cell.method.variant)].append(cell)
    for (trainer, family, variant), group in groups.items():
        slots = [(cell.dataset, cell.shots) for cell in group]
        if len({cell.cfg for cell in group}) > 1 and len(set(slots)) == len(slots):
            for cell in group:
                cell.method = Method(trainer, family, variant)


def discover(root: str) -> List[Cell]:
    cells = [*discover_base2new(root), *discover_trained(root), *discover_targets(root), *discover_zeroshot(root)]
    join_epoch_configs(cells)
    return attach_sources(cells)


def select(
    cells: List[Cell], protocols: Sequence[str], trainers: Sequence[str], cfgs: Sequence[str], baseline: str
) -> List[Cell]:
    """Cells of the chosen protocols and trainers/configs; the baseline's cells always stay."""
    trainers, cfgs = {t.lower() for t in trainers}, {c.lower() for c in cfgs}

    def chosen(cell: Cell) -> bool:
        if baseline and cell.method.matches(baseline):
            return True
        trainer_ok = not trainers or cell.method.trainer.lower() in trainers
        return trainer_ok and (not cfgs or bool({cell.cfg.lower(), cell.method.cfg.lower()} & cfgs))

    return [cell for cell in cells if cell.protocol in protocols and chosen(cell)]


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


FIXED_COLUMNS = ("zero-shot", "Base", "New", "HM")


def dataset_order(dataset: str) -> Tuple[int, int, str]:
    """The papers' dataset order, other datasets alphabetically, the average last."""
    if dataset == AVERAGE:
        return (2, 0, "")
    return (0, list(DISPLAY_NAMES).index(dataset), "") if dataset in DISPLAY_NAMES else (1, 0, dataset)


def column_order(column: str) -> Tuple[int, str]:
    """zero-shot, Base, New, HM, then shots by number, then anything else by name."""
    if column in FIXED_COLUMNS:
        return (FIXED_COLUMNS.index(column), "")
    number = column.split()[0]
    return (len(FIXED_COLUMNS) + int(number), "") if number.isdigit() else (1 << 30, column)


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


# ---------------------------------------------------------------------------------------------
# Warnings
# ---------------------------------------------------------------------------------------------


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


def comparison_notes(found: List[Comparison], baseline: str) -> Iterator[Note]:
    if baseline and not found:
        yield Note(
            "baseline", f"baseline {baseline} has no results in the selected protocols, or nothing to compare it with"
        )
    for c in found:
        if c.different_seeds:
            yield Note(
                "different-seeds",
                f"{c.protocol} {c.method.label} vs {c.baseline.label}: "
                f"different seeds on {', '.join(c.different_seeds)}",
            )


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    root: str
    metric: str
    protocols: List[str]
    cells: List[Cell]
    entries: List[Entry]
    comparisons: List[Comparison]
    notes: List[Note]
    files: List[str] = field(default_factory=list)


def collect(
    root: str,
    protocols: Sequence[str] = tuple(PROTOCOLS),
    trainers: Sequence[str] = (),
    cfgs: Sequence[str] = (),
    baseline: str = "",
    metric: str = "accuracy",
) -> Report:
    """Read, aggregate and check every selected run under ``root``."""
    cells = select(discover(root), protocols, trainers, cfgs, baseline)
    entries = build_entries(cells, metric)
    found = comparisons(entries, baseline) if baseline else []
    notes = [
        *run_notes(cells, root, metric),
        *seed_notes(cells),
        *missing_run_notes(cells),
        *collapse_notes(entries),
        *average_notes(entries),
        *comparison_notes(found, baseline),
    ]
    return Report(
        root, metric, [p for p in PROTOCOLS if p in protocols], cells, entries, found, list(dict.fromkeys(notes))
    )


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    header: List[str]
    rows: List[List[str]]
    notes: List[str] = field(default_factory=list)


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
    name = DISPLAY_NAMES.get(dataset, dataset)
    return f"{name} (source)" if protocol.unit == "targets" and dataset == SOURCE_DATASET else name


def cell_text(entry: Optional[Entry], full_n: Dict[Method, int]) -> str:
    return fmt(entry.summary, full_n[entry.method]) if entry else "–"


def grid(
    title: str, corner: str, cells: Dict[Tuple[str, str], Entry], row_text: Callable[[str], str], notes: List[str]
) -> Table:
    """A table from (row key, column key) -> entry; rows sort as datasets, columns as metrics/shots."""
    full_n: Dict[Method, int] = defaultdict(int)
    for e in cells.values():
        full_n[e.method] = max(full_n[e.method], len(e.summary.values))
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
    """Base-to-new and few-shot: every method's average row, side by side."""
    averages = {(e.method.label, e.column): e for e in entries if e.dataset == AVERAGE}
    sizes = defaultdict(list)
    for (method, _), e in averages.items():
        sizes[method].append(len(e.summary.over))

    def label(method: str) -> str:
        return f"{method} ({counted(sizes[method], protocol.unit)})"

    table = grid(
        f"{protocol.title}: averages", "Method", averages, label, [HM_NOTE] if protocol.name == "base2new" else []
    )
    table.rows.sort()
    return table


def comparison_table(c: Comparison) -> Table:
    protocol = PROTOCOLS[c.protocol]
    deltas = {(d.dataset, d.column): f"{d.value - d.baseline:+.2f}" for d in c.deltas}
    rows = sorted({d.dataset for d in c.deltas}, key=dataset_order)
    cols = sorted({d.column for d in c.deltas}, key=column_order)
    common = [len(d.over) for d in c.deltas if d.dataset == AVERAGE]
    labels = {AVERAGE: f"Average ({counted(common, 'common ' + protocol.unit)})"} if common else {}
    body = [[labels.get(r, DISPLAY_NAMES.get(r, r))] + [deltas.get((r, col), "–") for col in cols] for r in rows]
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
        [e.method.label, DISPLAY_NAMES.get(e.dataset, e.dataset), e.column]
        + [str(e.summary.values.get(s, "–")) for s in seeds]
        for e in measured
    ]
    return Table(f"{protocol.title}: per-seed values", header, rows)


def protocol_tables(report: Report, protocol: Protocol) -> List[Table]:
    entries = [e for e in report.entries if e.protocol == protocol.name]
    if not entries:
        return []
    if protocol.unit == "targets":
        tables = [targets_table(protocol, entries)]
    else:
        groups = group_by_method(entries)
        tables = []
        for (_, method), group in sorted(groups.items()):
            cells = [c for c in report.cells if c.protocol == protocol.name and c.method == method]
            tables.append(method_table(protocol, method, group, cells))
        if len(groups) > 1:
            tables.append(averages_table(protocol, entries))
    return tables + [comparison_table(c) for c in report.comparisons if c.protocol == protocol.name]


def render_text(table: Table) -> str:
    """Aligned columns for a terminal: names left, numbers right."""
    widths = [max(len(line[i]) for line in [table.header] + table.rows) for i in range(len(table.header))]

    def line(cells: List[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths)))

    lines = [table.title, line(table.header), "  ".join("-" * w for w in widths)] + [line(row) for row in table.rows]
    return "\n".join(lines + [f"  {note}" for note in table.notes])


def render_markdown(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines + [""] + [f"{note}  " for note in table.notes])


def report_text(report: Report) -> str:
    parts = []
    for name in report.protocols:
        tables = protocol_tables(report, PROTOCOLS[name])
        if tables:
            parts.append(f"== {PROTOCOLS[name].title} ==\n\n" + "\n\n".join(render_text(t) for t in tables))
    if report.notes:
        parts.append(f"Warnings ({len(report.notes)}):\n" + "\n".join(f"  warning: {n.message}" for n in report.notes))
    else:
        parts.append("No warnings.")
    if report.files:
        parts.append("Files:\n" + "\n".join(f"  {f}" for f in report.files))
    return "\n\n".join(parts)


def report_markdown(report: Report, plots: List[str]) -> str:
    lines = [f"# Results: {report.root}", "", f"Metric: {report.metric}. {STD_NOTE}.", ""]
    for name in report.protocols:
        lines += [render_markdown(table) + "\n" for table in protocol_tables(report, PROTOCOLS[name])]
    lines += ["## Warnings", ""] + ([f"- {n.message}" for n in report.notes] or ["None."]) + [""]
    lines += [f"![{osp.basename(p)}]({osp.basename(p)})\n" for p in plots]
    lines += ["## Per-seed values", ""]
    for name in report.protocols:
        entries = [e for e in report.entries if e.protocol == name]
        if entries:
            lines += [render_markdown(seed_table(PROTOCOLS[name], entries)), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


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
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields + [f"seed{s}" if s.isdigit() else s for s in seeds] + ["averaged_over"])
        for e in sorted(report.entries, key=lambda e: (e.protocol, entry_order(e))):
            record = entry_record(e)
            writer.writerow(
                [record[k] for k in fields] + [e.summary.values.get(s, "") for s in seeds] + [" ".join(e.summary.over)]
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
        "runs": run_records(report),
        "warnings": [{"kind": n.kind, "message": n.message} for n in report.notes],
        "files": report.files,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def method_colours(methods: List[Method]) -> Dict[Method, str]:
    """The same colour for a method in every panel."""
    import matplotlib

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}


def plotted_datasets(entries: List[Entry]) -> List[str]:
    """The datasets in order, and the average unless the methods average over different datasets
    (bars or points side by side would then not compare)."""
    datasets = sorted({e.dataset for e in entries}, key=dataset_order)
    overs = defaultdict(set)
    for e in entries:
        if e.dataset == AVERAGE:
            overs[e.column].add(e.summary.over)
    if any(len(over) > 1 for over in overs.values()):
        datasets.remove(AVERAGE)
    return datasets


def panel_title(dataset: str) -> str:
    return "Average" if dataset == AVERAGE else DISPLAY_NAMES.get(dataset, dataset)


def save_with_legend(fig, path: str) -> None:
    """One legend for all panels, below them. A bare ``Figure`` renders with Agg and leaves
    pyplot's global state (and the caller's backend) alone."""
    legend = {}
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(4, len(legend)), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)


def plot_fewshot(entries: List[Entry], path: str, metric: str) -> bool:
    """Accuracy vs shots, one line per method (zero-shot CLIP dashed), one panel per dataset and
    one for the average. Returns False (no file) without few-shot results."""
    from matplotlib.figure import Figure

    curves = [e for e in entries if e.protocol == "fewshot"]
    if not any(e.shots for e in curves):
        return False
    methods = sorted({e.method for e in curves})
    colours = method_colours(methods)
    panels = plotted_datasets(curves)
    shots = sorted({e.shots for e in curves if e.shots})
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).flat
    for ax, dataset in zip(axes, panels):
        for method in methods:
            points = sorted((e for e in curves if e.method == method and e.dataset == dataset), key=lambda e: e.shots)
            for zero_shot in (e for e in points if e.shots == 0):
                ax.axhline(zero_shot.summary.mean, color=colours[method], linestyle="--", label=method.label)
            trained = [e for e in points if e.shots]
            if trained:
                means, errors = [e.summary.mean for e in trained], [e.summary.std or 0.0 for e in trained]
                ax.errorbar(
                    [e.shots for e in trained],
                    means,
                    yerr=errors,
                    marker="o",
                    capsize=3,
                    color=colours[method],
                    label=method.label,
                )
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(s) for s in shots])
        ax.set(title=panel_title(dataset), xlabel="shots per class", ylabel=f"{metric} (%)")
    for ax in list(fig.axes)[len(panels) :]:
        ax.axis("off")
    save_with_legend(fig, path)
    return True


def plot_base2new(entries: List[Entry], path: str, metric: str) -> bool:
    """Grouped bars per dataset (and the average), one bar per method, panels Base / New / HM.
    Returns False (no file) without base-to-new results."""
    from matplotlib.figure import Figure

    b2n = [e for e in entries if e.protocol == "base2new"]
    if not b2n:
        return False
    methods = sorted({e.method for e in b2n})
    colours = method_colours(methods)
    datasets = plotted_datasets(b2n)
    width = 0.8 / len(methods)
    fig = Figure(figsize=(max(8.0, 0.4 * len(datasets) * (len(methods) + 1)), 9))
    axes = fig.subplots(3, 1, sharex=True)
    for ax, column in zip(axes, ("Base", "New", "HM")):
        values = {(e.method, e.dataset): e.summary for e in b2n if e.column == column}
        for i, method in enumerate(methods):
            xs = [j for j, d in enumerate(datasets) if (method, d) in values]
            bars = [values[method, datasets[j]] for j in xs]
            offsets = [x + (i - (len(methods) - 1) / 2) * width for x in xs]
            errors = [s.std or 0.0 for s in bars]
            ax.bar(
                offsets,
                [s.mean for s in bars],
                width,
                yerr=errors,
                capsize=2,
                color=colours[method],
                label=method.label,
            )
        ax.set_ylabel(f"{column} {metric} (%)")
    axes[-1].set_xticks(range(len(datasets)), [panel_title(d) for d in datasets], rotation=30, ha="right")
    save_with_legend(fig, path)
    return True


def write_outputs(report: Report, out_dir: str, plots: bool = True) -> List[str]:
    """Plots (when their data exists), ``results.md``, ``results.csv`` and ``results.json``."""
    os.makedirs(out_dir, exist_ok=True)
    drawn = []
    if plots:
        for name, draw in zip(PLOT_FILES, (plot_fewshot, plot_base2new)):
            path = osp.join(out_dir, name)
            if draw(report.entries, path, report.metric):
                drawn.append(path)
    paths = {ext: osp.join(out_dir, f"results.{ext}") for ext in ("md", "csv", "json")}
    report.files = [paths["md"], paths["csv"], paths["json"]] + drawn
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(report_markdown(report, drawn))
    write_csv(report, paths["csv"])
    write_json(report, paths["json"])
    return report.files


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def split_list(values: Optional[List[str]]) -> List[str]:
    """``--trainer PLPP,CoOp`` and ``--trainer PLPP --trainer CoOp`` both give [PLPP, CoOp]."""
    return [v for value in values or [] for v in value.split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.results", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", nargs="?", default="output", help="the scripts' output folder (default: output)")
    parser.add_argument("--protocol", action="append", help=f"one or more of {', '.join(PROTOCOLS)} (default: all)")
    parser.add_argument("--trainer", action="append", help="only these trainers, e.g. PLPP,CoOp (default: all)")
    parser.add_argument(
        "--cfg", action="append", help="only these configs (a few-shot family such as vit_b16 selects its _epN configs)"
    )
    parser.add_argument("--baseline", default="", help="TRAINER or TRAINER/CFG to compare every other method against")
    parser.add_argument(
        "--metric", default="accuracy", help="the '* NAME: X%%' line to read: accuracy (default), macro_f1, error"
    )
    parser.add_argument("--out", help="folder for results.md/.csv/.json and the plots (default: ROOT/results)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    protocols = split_list(args.protocol) or list(PROTOCOLS)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        print(f"error: unknown protocol {', '.join(unknown)}; choose from {', '.join(PROTOCOLS)}", file=sys.stderr)
        return 2
    if not osp.isdir(args.root):
        print(f"error: {args.root} is not a folder; give the scripts' output folder (default: output)", file=sys.stderr)
        return 2
    report = collect(args.root, protocols, split_list(args.trainer), split_list(args.cfg), args.baseline, args.metric)
    if not report.cells:
        layouts = "; ".join(LAYOUTS)
        print(
            f"error: no runs found under {args.root} for this selection; the scripts write {layouts}", file=sys.stderr
        )
        return 1
    write_outputs(report, args.out or osp.join(args.root, "results"), plots=not args.no_plots)
    print(report_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
