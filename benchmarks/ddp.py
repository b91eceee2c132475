"""torchrun with the bundled engine: one training run (2 epochs on a fixture dataset, then the
final evaluation) as 1 process against N processes with the same global batch (N = the GPUs
present, else 2 gloo processes on the CPU). Wall time of the whole command, process start
included. On a CPU whose cores the single process already uses, more processes cannot be
faster; the figure is there to show the overhead and, on several GPUs, the speed-up.
"""
import os
import shutil
import subprocess
import sys
from typing import Dict, List

import torch

from benchmarks.common import REPO, Context, context_from_args, figure, paired_medians, precision_opts


def figures(ctx: Context) -> List[Dict]:
    from testing.dataset_fixtures import build_fixture

    root = os.path.join(ctx.root, "ddp")
    build_fixture("eurosat", root, images_per_class=(8, 2, 4) if ctx.quick else (16, 2, 10))
    n_proc = torch.cuda.device_count() if torch.cuda.device_count() > 1 else 2
    batch = "8" if ctx.quick else "32"

    def args(out: str) -> List[str]:
        return ["--root", root, "--seed", "1", "--trainer", "CoOp", "--output-dir", out,
                "--dataset-config-file", os.path.join(REPO, "configs", "datasets", "eurosat.yaml"),
                "--config-file", os.path.join(REPO, "configs", "trainers", "CoOp", "vit_b16_ep50.yaml"),
                "OPTIM.MAX_EPOCH", "2", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", batch,
                "TEST.FEATURE_CACHE", "False", *precision_opts()]

    def run(command: List[str], out: str) -> None:
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(command + args(out), cwd=REPO, check=True, capture_output=True)

    train = os.path.join(REPO, "train.py")
    one = lambda: run([sys.executable, train], os.path.join(root, "out-1"))  # noqa: E731
    many = lambda: run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n_proc), train],  # noqa: E731
                       os.path.join(root, f"out-{n_proc}"))
    one_s, many_s = paired_medians(one, many, ctx.repeats, warm_up=False)
    return [figure(f"CoOp training run (2 epochs, global batch {batch}, fixture) on {n_proc} processes",
                   "1 process", one_s, f"torchrun, {n_proc} processes", many_s)]


if __name__ == "__main__":
    from benchmarks.__main__ import print_figures

    print_figures(figures(context_from_args(__doc__)))
