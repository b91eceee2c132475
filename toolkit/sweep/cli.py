"""``python -m toolkit.sweep``: a paper table in one command.

    python -m toolkit.sweep base2new --methods CoOp PLPP --datasets all [--seeds 1 2 3]
    python -m toolkit.sweep fewshot --methods CoOp PLPP --datasets all --shots 1 2 4 8 16
    python -m toolkit.sweep xd --methods PLPP --datasets all --dry-run
    python -m toolkit.sweep base2new --methods PLPP --datasets all --grid TRAINER.PLPP.TOPK=3,5 --grid OPTIM.LR=0.001,0.002
    python -m toolkit.sweep base2new --methods MaPLe MaPLe_PLPP --datasets all \\
        --cluster slurm --partition gpu --time 240 --gpus 1 --cpus 8 --mem 32G --jobs 16

It expands exactly the runs the protocol scripts make (toolkit/protocols: same commands, same
folders, same skip / resume / force rules; an evaluation waits for its training run), shows the
plan (``--dry-run`` stops there), runs what is missing on this machine (one job per visible GPU,
or ``--jobs N`` at a time on the CPU) or on SLURM (job arrays, requeued on preemption), and
prints and writes the tables with ``python -m toolkit.results``. The state lives in the run
folders only: stop it at any time and rerun the same command to continue.

``--grid KEY=V1,V2`` (repeatable) runs the cartesian product of the values, each point in folders
of its own (``<cfg>@KEY=V,...``); ``toolkit.results`` prints their ablation table. Before anything
runs, a sweep refuses in one line: overrides that contradict the protocol (``DATASET.NUM_SHOTS``:
use ``--shots``) or each other, ``--shots`` outside fewshot, shots below 1, negative seeds, a
mistyped config key, SLURM jobs the partition's nodes cannot run, and run folders holding runs
made with other settings than asked for now (other --opts or an edited config: use another
--output, or --force; another --cfg, --param or grid point has folders of its own).
Exit status: 0 all finished, 1 some failed, 2 bad input, 75 stopped (rerun to continue).
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime
from typing import List, Optional, Sequence

from runtime.status import BAD_INPUT, FAILED, INTERRUPTED, OK

from toolkit.protocols import PROTOCOLS, Run, expand
from toolkit.protocols.__main__ import parse_params
from toolkit.protocols.runs import prepare

from .executors import LocalExecutor, SlurmExecutor, SlurmSettings, check_partition, slurm_available
from .job import REPO
from .plan import check_configs, check_overrides, grid_points, parse_grid, rerun_command
from .schedule import Entry, Scheduler, counts

RESULT_PROTOCOLS = {"base2new": "base2new", "fewshot": "fewshot", "xd": "xd", "dg": "dg"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m toolkit.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", choices=PROTOCOLS)
    p.add_argument("--methods", nargs="+", required=True, help="registered trainers, e.g. CoOp PLPP CoCoOp MaPLe_PLPP")
    p.add_argument("--datasets", nargs="+", default=["all"], help="dataset config names, or all (default)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--shots", nargs="+", type=int, help="few-shot only (default: 1 2 4 8 16)")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE", help="config overrides for every run (as OPTS)")
    p.add_argument("--cfg", default="", help="one trainer config for every method (default: each method's)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method's script argument, e.g. WEIGHT=8.0")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="an ablation: run every value of KEY (several --grid: their cartesian product), each point in its own folders")
    p.add_argument("--root", default=os.environ.get("DATA", ""), help="the datasets folder (default: $DATA)")
    p.add_argument("--output", default=os.environ.get("OUTPUT", os.path.join(REPO, "output")),
                   help="where runs go (default: $OUTPUT, else output/ in the repository)")
    p.add_argument("--dry-run", action="store_true", help="show the jobs and their state, run nothing")
    p.add_argument("--force", action="store_true", help="rerun finished runs (old folders kept as <folder>.replaced-<time>)")
    p.add_argument("--jobs", type=int, default=0, help="local: jobs at a time on the CPU (default: one per GPU, else 1); "
                                                       "SLURM: the array's concurrency cap (default 256)")
    p.add_argument("--python", default=sys.executable,
                   help="the Python that runs train.py, on this machine or the nodes (default: this one)")
    p.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    s = p.add_argument_group("SLURM (--cluster slurm)")
    s.add_argument("--cluster", choices=["local", "slurm"], default="local")
    s.add_argument("--partition", default="")
    s.add_argument("--account", default="")
    s.add_argument("--time", type=int, default=240, help="time limit per job in minutes (a job past it is requeued and resumes)")
    s.add_argument("--gpus", type=int, default=1, help="GPUs per job (0 for CPU jobs)")
    s.add_argument("--cpus", type=int, default=4, help="CPUs per job")
    s.add_argument("--mem", default="", help="memory per job, e.g. 32G")
    s.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE", help="extra sbatch option, e.g. qos=high")
    s.add_argument("--setup", action="append", default=[], metavar="LINE", help="shell line run before each job")
    return p


def plan_lines(entries: Sequence[Entry]) -> List[str]:
    """The ``--dry-run`` table: every job, its state (finished / unfinished: resumes / to run), its folder."""
    width = max([len(e.run.label) for e in entries] + [3])
    lines = [f"{'#':>4}  {'state':<10} {'job':<{width}}  folder"]
    lines += [f"{i:>4}  {e.state:<10} {e.run.label:<{width}}  {e.run.output}" for i, e in enumerate(entries, 1)]
    return lines + [f"{len(entries)} jobs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts(entries).items()))]


def run_results(args: argparse.Namespace) -> None:
    """The paper-style tables of what the sweep made, printed and written under OUTPUT/results."""
    command = [sys.executable, "-m", "toolkit.results", args.output, "--no-plots",
               "--out", os.path.join(args.output, "results")]
    if args.protocol in RESULT_PROTOCOLS:
        command += ["--protocol", RESULT_PROTOCOLS[args.protocol]]
    for method in args.methods:
        command += ["--trainer", method]
    print(f"\n$ python {' '.join(shlex.quote(c) for c in command[1:])}", flush=True)
    subprocess.call(command, cwd=REPO)


def summary(entries: Sequence[Entry], args: argparse.Namespace, argv: Sequence[str], started: float) -> int:
    tally = counts(entries)
    print(f"\nsweep: {len(entries)} jobs in {time.time() - started:.0f} s: "
          + ", ".join(f"{n} {state}" for state, n in sorted(tally.items())), flush=True)
    bad = [e for e in entries if e.state in ("failed", "blocked", "to run", "unfinished", "interrupted")]
    if not bad:
        return OK
    for entry in bad:
        print(f"  {entry.state}: {entry.run.label}: {entry.detail}\n    rerun: {rerun_command(args, entry.run)}")
    print("rerun the missing jobs (finished ones are skipped): python -m toolkit.sweep "
          + " ".join(shlex.quote(a) for a in argv))
    return FAILED


def planned_runs(args: argparse.Namespace) -> List[Run]:
    """Every run of the sweep (each grid point's), checked before anything runs (ValueError: one line)."""
    if args.shots is not None and args.protocol != "fewshot":
        raise ValueError(f"--shots is for the fewshot protocol; {args.protocol} runs on the shots its papers use "
                         f"(16 per class for training, as the folders say): leave --shots out")
    grid = parse_grid(args.grid)
    params = parse_params(args.param)
    runs = []
    for point in grid_points(grid):
        runs += expand(args.protocol, args.methods, args.datasets, args.seeds, args.output, args.shots or [1, 2, 4, 8, 16],
                       args.opts, args.cfg or None, params, point)
    runs = list({run.output: run for run in runs}.values())
    runs.sort(key=lambda run: run.step != "train")
    check_overrides(args.opts, grid, runs)
    check_configs(runs, args.root, args.opts, args.force)
    return runs


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.root:
        print("error: no datasets folder; export DATA=/path/to/datasets or pass --root", file=sys.stderr)
        return BAD_INPUT
    if not os.path.isdir(args.root):
        print(f"error: {args.root} is not a folder; see docs/DATASETS.md or run: python -m toolkit.data download --help",
              file=sys.stderr)
        return BAD_INPUT
    if args.cluster == "slurm" and not slurm_available():
        print("error: no SLURM controller answers here (sinfo fails); run on the cluster's login node", file=sys.stderr)
        return BAD_INPUT
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    os.chdir(REPO)  # the runs' commands and folders are the scripts', relative to the repository
    try:
        sbatch = parse_params(args.sbatch)
        if args.cluster == "slurm":
            check_partition(args.partition, args.gpus, args.cpus)
        runs = planned_runs(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT

    if args.force and not args.dry_run:
        for run in runs:
            prepare(run.output, force=True)
    entries = [Entry(run, run.state()) for run in runs]
    print("\n".join(plan_lines(entries)), flush=True)
    if args.dry_run:
        return OK

    started = time.time()
    folder = os.path.join(args.output, ".sweep", datetime.now().strftime("%Y%m%d-%H%M%S"))
    if args.cluster == "slurm":
        settings = SlurmSettings(args.partition, args.account, args.time, args.gpus, args.cpus, args.mem, sbatch, args.setup)
        executor = SlurmExecutor(os.path.join(folder, "%j"), settings, args.jobs or 256)
    else:
        executor = LocalExecutor(folder, args.jobs)
    print(f"running {sum(e.state != 'finished' for e in entries)} jobs: {executor.describe()}; "
          f"submitit logs in {folder}, each run's output in <run folder>/sweep.log", flush=True)
    scheduler = Scheduler(runs, executor, os.path.abspath(args.root), args.opts, {"PYTHONUNBUFFERED": "1"},
                          poll_s=args.poll, python=args.python)

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nsweep: stopping the running jobs (each saves a checkpoint) ...", flush=True)
        scheduler.stop()
        summary(scheduler.entries, args, argv, started)
        print("stopped; rerun the same command to continue", flush=True)
        os._exit(INTERRUPTED)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        scheduler.run()
    finally:  # a caller (a test, a notebook) gets its own handlers back
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    status = summary(scheduler.entries, args, argv, started)
    run_results(args)
    return status
