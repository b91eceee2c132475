"""What a sweep checks and adds beyond the protocol's runs, before anything runs: the ablation
grid's points, overrides that contradict the protocol or each other, mistyped config keys, and
run folders that hold runs made with other settings than the ones asked for now (refused: a
sweep never reports another experiment's runs as its own).
"""
import itertools
import os
import re
import shlex
import sys
from argparse import Namespace
from typing import List, Sequence, Tuple

from runtime.records import CONFIG_RECORD, RESULT_NEUTRAL, settings_differences

from toolkit.protocols import Run
from toolkit.protocols.runs import CONFIG_KEY, Point, check_protocol_keys

GRID_VALUE = re.compile(r"[A-Za-z0-9_.+\-:]+")  # a value names folders: no '/', ',', '=', '@' or spaces
Grid = List[Tuple[str, List[str]]]


def parse_grid(items: Sequence[str]) -> Grid:
    """``KEY=V1,V2`` items into [(KEY, [V1, V2])], with one-line errors."""
    grid: Grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not CONFIG_KEY.fullmatch(key):
            raise ValueError(f"--grid takes KEY=V1,V2,... with a config key, e.g. --grid OPTIM.LR=0.001,0.002; got {item}")
        listed = values.split(",")
        bad = [v for v in listed if not GRID_VALUE.fullmatch(v)]
        if bad:
            raise ValueError(f"--grid {key}: value {bad[0]!r} cannot name a folder; use letters, digits and . _ + - : only")
        if len(set(listed)) != len(listed):
            raise ValueError(f"--grid {key} lists a value twice: {values}")
        if key in (k for k, _ in grid):
            raise ValueError(f"--grid {key} is given twice; list all its values in one --grid {key}=V1,V2,...")
        grid.append((key, listed))
    return grid


def grid_points(grid: Grid) -> List[Point]:
    """The cartesian product of the grid, in the order given; one empty point without a grid."""
    keys = [key for key, _ in grid]
    return [tuple(zip(keys, values)) for values in itertools.product(*(values for _, values in grid))]


def check_overrides(opts: Sequence[str], grid: Grid, runs: Sequence[Run]) -> None:
    """--opts and --grid must not set a key twice, nor one the protocol sets (its folders name it)."""
    if len(opts) % 2:
        raise ValueError(f"--opts takes KEY VALUE pairs, got an odd number: {' '.join(opts)}")
    given = {key: "--opts" for key in opts[::2]}
    for key, _ in grid:
        if key in given:
            raise ValueError(f"{key} is set both by --opts and by --grid; give it in one of them")
        given[key] = "--grid"
    check_protocol_keys(given, runs)


def planned_config(run: Run, root: str, opts: Sequence[str], base):
    """The config ``run`` would train with (train.py's own parsing and merging)."""
    from runtime.cli import build_parser, setup_cfg

    return setup_cfg(build_parser().parse_args(run.command(root, opts)[2:]), base)


def check_configs(runs: Sequence[Run], root: str, opts: Sequence[str], force: bool) -> None:
    """Every run's config merges (a mistyped key is found now, not one job at a time), and no
    existing run folder holds a run made with other settings than planned now."""
    from runtime.config import default_config

    base = default_config()
    checked = set()
    differing: List[Tuple[Run, List[str]]] = []
    for run in runs:
        recorded = os.path.isfile(os.path.join(run.output, CONFIG_RECORD))
        kind = (run.trainer, run.dataset, run.step, run.point, run.args[run.args.index("--config-file") + 1])
        if kind in checked and not recorded:
            continue
        checked.add(kind)
        try:
            cfg = planned_config(run, root, opts, base)
        except ValueError as e:
            raise ValueError(f"{e} (--opts / --grid of {run.label})") from None
        if recorded and not (force and run.state() == "finished"):
            found = settings_differences(cfg, run.output, RESULT_NEUTRAL)
            if found:
                differing.append((run, found))
    if differing:
        run, found = differing[0]
        finished = all(r.state() == "finished" for r, _ in differing)
        way = "pass another --output to keep both" + (", or --force to replace them" if finished else "")
        raise ValueError(f"{len(differing)} run folder(s) hold runs made with other settings than asked for now "
                         f"({'; '.join(found)} (there -> now), e.g. {run.output}); {way}")


def rerun_command(args: Namespace, run: Run) -> str:
    """The sweep command narrowed to ``run``'s method, dataset, seed, shots and grid point, with
    the same output, overrides and settings (finished jobs are skipped)."""
    datasets = args.datasets if run.step == "train" and args.protocol in ("xd", "dg") else [run.dataset]
    parts = ["python", "-m", "toolkit.sweep", args.protocol, "--methods", run.trainer, "--datasets", *datasets]
    if run.seed is not None:
        parts += ["--seeds", str(run.seed)]
    if run.shots is not None and run.protocol == "fewshot":
        parts += ["--shots", str(run.shots)]
    if args.cfg:
        parts += ["--cfg", args.cfg]
    for param in args.param:
        parts += ["--param", param]
    parts += ["--root", args.root, "--output", args.output]
    if args.python != sys.executable:
        parts += ["--python", args.python]
    for key, value in run.point:
        parts += ["--grid", f"{key}={value}"]
    if args.opts:
        parts += ["--opts", *args.opts]
    return " ".join(shlex.quote(p) for p in parts)

