"""Turn the protocol scripts' output folders into tables for a paper, with the problems flagged.

    python -m toolkit.results [ROOT] [--protocol base2new,fewshot,xd,dg] [--trainer PLPP,CoOp]
                              [--cfg CFG] [--baseline TRAINER[/CFG]] [--metric accuracy]
                              [--out DIR] [--no-plots]

ROOT is the scripts' output folder (default ``output``). Every run's log is read as CoOp's
``parse_test_res.py`` reads it: the last ``* accuracy: X%`` after "Finish training" (or
"Finished training"), or after "=> result" for evaluation-only runs. Runs made by the reference
repositories (CoOp/CoCoOp, MaPLe/IVLP, PromptSRC, KgCoOp: same folders, no ``finished.json``)
therefore read as this project's do, KgCoOp's ``shots_16_<WEIGHT>`` folders included.

Per protocol and method (trainer + config) it prints mean ± std over seeds (population std, as
``parse_test_res.py``) and the seed count:
  base-to-new    Base, New, HM per dataset; the average row is the HM of the mean Base and the mean
                 New over the 11 datasets, as the published tables compute it. With several
                 methods, one table puts them side by side (zero-shot CLIP, CoOp, CoCoOp, KgCoOp,
                 MaPLe, IVLP, PromptSRC, others by name), each plug-in variant under its host
                 (host, +PLPP, +DePT, +both) with a Δ row (PLPP − CoOp, <Host>_DePT − <Host>, ...);
  few-shot       dataset x shots (CoOp's *_ep50/*_ep100 configs for few shots join one curve);
  cross-dataset  ImageNet source, the 10 targets and their mean;
  domain gen.    ImageNet source, the 4 ImageNet variants and their mean.
Zero-shot CLIP (``ZeroshotCLIP/<cfg>/<dataset>``, ``.../<cfg>/zeroshot``) shows as a one-run row.
A folder with several logs (a resumed run adds ``log.txt-<time>``) counts the newest with a result.
``--baseline`` adds, per other method, the differences on the datasets both have.
Where a method, config and dataset have a published number (``toolkit.published``), a
"published vs ours" table puts ours (mean ± std, n) beside it with the difference, marks what does
not reproduce (|Δ| > max(2·std, 1 point)) and a reproduction report lists those, worst first
(``--no-published`` leaves both out).
It warns about missing seeds, unfinished runs, logs without a result and collapsed seeds, and
writes ``results.md``, ``results.tex``, ``results.csv``, ``results.json`` and PNG plots to
``--out`` (default ``ROOT/results``). Seeds trained with different settings (their
``config.yaml`` differs beyond folders, workers and the seed) are never averaged: they become
rows of their own, labelled by the settings that differ, with a warning; results.json records the
settings behind every number. A sweep's ablation grid (``<cfg>@KEY=V`` folders) gets an ablation
table (one row per point, best marked) and a plot. Exit status: 0, 1 when no run was found, 2
for a bad command line or when the files cannot be written to ``--out`` (the tables are printed
all the same).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

from .discover import LAYOUTS
from .files import write_outputs
from .protocols import PROTOCOLS
from .render import report_text
from .report import collect


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
    parser.add_argument(
        "--no-published", action="store_true", help="leave out the published numbers beside ours and the reproduction report"
    )
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
    report = collect(
        args.root, protocols, split_list(args.trainer), split_list(args.cfg), args.baseline, args.metric,
        compare_published=not args.no_published,
    )
    if not report.cells:
        layouts = "; ".join(LAYOUTS)
        print(
            f"error: no runs found under {args.root} for this selection; the scripts write {layouts}", file=sys.stderr
        )
        return 1
    out = args.out or osp.join(args.root, "results")
    try:
        write_outputs(report, out, plots=not args.no_plots)
    except OSError as e:  # a read-only or full disk: the tables still go to stdout
        report.files = []
        print(report_text(report))
        print(f"error: could not write the results files to {out} ({e.strerror or e}); "
              "the tables above are all there is: pass --out to a writable folder", file=sys.stderr)
        return 2
    print(report_text(report))
    return 0
