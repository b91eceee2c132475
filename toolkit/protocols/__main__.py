"""``python -m toolkit.protocols STEP ...``: one step of a protocol script (scripts/lib/*.sh call
it), so that the scripts and ``python -m toolkit.sweep`` share one definition of every run.

    python -m toolkit.protocols base2new_train --trainer CoOp --dataset eurosat --seed 1 \\
        --root $DATA --output output [--cfg CFG] [--param WEIGHT=8.0] [--force]
    python -m toolkit.protocols exec --root $DATA [--force] -- FOLDER TRAIN_ARGS...

Config overrides come from ``$OPTS`` as in the scripts. Exit status: train.py's (runtime.status),
2 with one line on stderr for bad input.
"""
import argparse
import os
import sys
from typing import List, Optional, Sequence

from runtime.status import BAD_INPUT

from . import runs

STEPS = ("base2new_train", "base2new_test", "fewshot", "xd_train", "xd_test", "zeroshot", "exec")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit.protocols", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--trainer", default="")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--seeds", "--seed", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--cfg", default="", help="the trainer config (default: the method's, toolkit/protocols/methods.py)")
    parser.add_argument("--prompt", nargs=3, metavar=("CTP", "NCTX", "CSC"), help="CoOp's few-shot prompt arguments")
    parser.add_argument("--sub", default="", help="classes to evaluate: new (default), base, all (zero-shot)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a method's script argument")
    parser.add_argument("--root", required=True, help="the datasets folder ($DATA)")
    parser.add_argument("--output", default="output", help="where runs go ($OUTPUT)")
    parser.add_argument("--force", action="store_true", help="rerun finished runs, keeping the old folder")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs train.py (the scripts' $PY)")
    return parser


def parse_params(pairs: Sequence[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--param takes NAME=VALUE, got {pair}")
        params[name] = value
    return params


def step_runs(args: argparse.Namespace, opts: List[str]) -> List[runs.Run]:
    cfg = args.cfg or None
    params = parse_params(args.param)
    if args.step == "base2new_train":
        return [runs.base2new_train(args.trainer, args.dataset, s, args.output, cfg, params) for s in args.seeds]
    if args.step == "base2new_test":
        return [runs.base2new_test(args.trainer, args.dataset, s, args.output, cfg, params, args.sub or "new", opts)
                for s in args.seeds]
    if args.step == "fewshot":
        prompt = tuple(args.prompt) if args.prompt else None
        return [runs.fewshot(args.trainer, args.dataset, args.shots, s, args.output, cfg, prompt) for s in args.seeds]
    if args.step == "xd_train":
        return [runs.xd_train(args.trainer, s, args.output, cfg) for s in args.seeds]
    if args.step == "xd_test":
        return [runs.xd_test(args.trainer, args.dataset, s, args.output, cfg, opts) for s in args.seeds]
    return [runs.zeroshot(args.trainer, args.dataset, cfg or "vit_b16", args.output, args.sub or "all")]


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: List[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1:]
    args = build_parser().parse_args(argv)
    opts = os.environ.get("OPTS", "").split()
    python = args.python
    if args.step == "exec":
        if not rest:
            print("error: exec needs -- FOLDER TRAIN_ARGS...", file=sys.stderr)
            return BAD_INPUT
        folder, train_args = rest[0], rest[1:]
        command = [python, "train.py", "--root", args.root, "--output-dir", folder, *train_args, *opts]
        return runs.execute(folder, command, args.force)
    try:
        planned = step_runs(args, opts)
        runs.check_protocol_keys({key: "OPTS" for key in opts[::2]}, planned)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT
    for run in planned:
        status = runs.execute_run(run, args.root, opts, args.force, python=python)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
