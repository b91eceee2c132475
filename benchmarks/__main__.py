"""Every speed and memory figure in one run: ``python -m benchmarks [--quick] [--only a,b]``.

Runs each module of ``benchmarks/`` (``speed``, ``cache``, ``growth``, ``memory``, ``ddp`` and any
``benchmarks/<method>.py`` a method adds): a module's ``figures(ctx)`` gives its rows; a module
with only a ``main()`` is run as a script and its output quoted. Both sides of every ratio are
measured alternately within this run. Writes ``benchmarks.json`` and ``benchmarks.md`` (the
table, the machine and the command) to ``--out`` (default ``output/benchmarks/``).

The default weights are CLIP ViT-B/16's architecture with random weights (``$CLIP_CHECKPOINT``
loads real ones); ``--quick`` uses a small random CLIP and smaller sizes: every figure in
minutes on a CPU, to check the benchmarks run, not to quote.
"""
import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Dict, List

from benchmarks.common import REPO, machine, new_context

NOT_BENCHMARKS = {"__main__", "common"}


def discover() -> List[str]:
    """The benchmark modules, in name order."""
    folder = os.path.dirname(os.path.abspath(__file__))
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if m.name not in NOT_BENCHMARKS)


def format_value(value, unit: str) -> str:
    if value is None:
        return ""
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:,.0f} {unit}"


def markdown(rows: List[Dict], info: Dict) -> str:
    lines = [
        f"Measured with `{info['command']}` on {info['machine']['processor']}, {info['machine']['cpu_cores']} cores, "
        f"device {info['machine']['device']}, torch {info['machine']['torch']} ({info['machine']['platform']}; "
        f"load average {info['machine'].get('load_average_at_start', '?')} at the start), {info['weights']}, "
        f"medians of {info['repeats']} alternated rounds; ratio = left / right.",
        "",
        "| benchmark | figure | left | right | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row or "output" in row:
            lines.append(f"| {row['benchmark']} | {row.get('error') or row['output'][-200:]} | | | |".replace("\n", " "))
            continue
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(f"| {row['benchmark']} | {row['figure']} | {row['left']}: {format_value(row['left_value'], row['unit'])} "
                     f"| {row['right']}: {format_value(row['right_value'], row['unit'])} | {ratio} |")
    return "\n".join(lines) + "\n"


def print_figures(rows: List[Dict]) -> None:
    for row in rows:
        ratio = "" if row.get("ratio") is None else f" -> {row['ratio']:.2f}x"
        print(f"{row['figure']}: {row['left']} {format_value(row['left_value'], row['unit'])}, "
              f"{row['right']} {format_value(row['right_value'], row['unit'])}{ratio}")


def run_module(name: str, ctx) -> List[Dict]:
    module = importlib.import_module(f"benchmarks.{name}")
    if hasattr(module, "figures"):
        return [{"benchmark": name, **row} for row in module.figures(ctx)]
    args = [sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if ctx.quick else [])
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    return [{"benchmark": name, "output": (done.stdout + done.stderr).strip(), "returncode": done.returncode}]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small CLIP and sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="alternated timed rounds per ratio (default 3)")
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks, of: {', '.join(discover())}")
    parser.add_argument("--out", default=os.path.join(REPO, "output", "benchmarks"))
    args = parser.parse_args()
    names = discover()
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(names))
        if unknown:
            print(f"Unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only.split(",")]

    user_clip = os.environ.get("CLIP_CHECKPOINT")
    ctx = new_context(tempfile.mkdtemp(prefix="plpp-bench-"), args.quick, args.repeats)
    weights = f"CLIP weights {user_clip}" if user_clip else (
        "a small random CLIP (--quick)" if args.quick else "random ViT-B/16-shaped CLIP weights")
    info = {"command": " ".join(["python -m benchmarks", *sys.argv[1:]]), "machine": machine(), "repeats": args.repeats,
            "weights": weights}
    rows: List[Dict] = []
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            new = run_module(name, ctx)
        except Exception as e:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            new = [{"benchmark": name, "error": f"{type(e).__name__}: {e}".splitlines()[0]}]
        print_figures([row for row in new if "figure" in row])
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
        rows.extend(new)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "benchmarks.json"), "w") as f:
        json.dump({**info, "figures": rows}, f, indent=2)
    with open(os.path.join(args.out, "benchmarks.md"), "w") as f:
        f.write(markdown(rows, info))
    print(f"written: {os.path.join(args.out, 'benchmarks.json')} and benchmarks.md")
    return 1 if any("error" in row or row.get("returncode") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
