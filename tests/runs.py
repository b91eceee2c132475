"""Fixture datasets (where each lives) and ``train.py`` run in-process on them (no second torch
import), with readers for its logs."""
import os
import re
from typing import List, Optional, Sequence

from testing.dataset_fixtures import build_fixture

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRESS = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\] .*? loss ([\d.]+) \(([\d.]+)\)")
ACCURACY = re.compile(r"^\* accuracy: ([\d.]+)%$", re.M)

# Each dataset's folder under DATASET.ROOT, as CoOp's DATASETS.md lays them out: the tests' expectation, written
# independently of runtime/catalogue on purpose (tests/test_datasets.py checks the catalogue against it).
DATASET_DIRS = {
    "imagenet": "imagenet",
    "caltech101": "caltech-101",
    "oxford_pets": "oxford_pets",
    "stanford_cars": "stanford_cars",
    "oxford_flowers": "oxford_flowers",
    "food101": "food-101",
    "fgvc_aircraft": "fgvc_aircraft",
    "sun397": "sun397",
    "dtd": "dtd",
    "eurosat": "eurosat",
    "ucf101": "ucf101",
    "imagenetv2": "imagenetv2",
    "imagenet_sketch": "imagenet-sketch",
    "imagenet_a": "imagenet-adversarial",
    "imagenet_r": "imagenet-rendition",
}

# Fast settings for the tiny CLIP on the CPU (the configs' other values stay CoOp's).
FAST = ["DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "16",
        "TRAIN.PRINT_FREQ", "1"]


def make_dataset(root: str, name: str = "eurosat") -> str:
    """Write a fixture dataset under ``root``; returns the root."""
    build_fixture(name, root)
    return root


def train_args(root: str, out: str, trainer: str = "CoOp", dataset: str = "eurosat", config: str = "vit_b16_ep50",
               opts: Sequence[str] = (), flags: Sequence[str] = ()) -> List[str]:
    """train.py arguments: ``flags`` (e.g. --eval-only) go before the trailing config ``opts``."""
    return [
        "--root", root, "--seed", "1", "--trainer", trainer, "--output-dir", out,
        "--dataset-config-file", os.path.join(REPO, "configs", "datasets", f"{dataset}.yaml"),
        "--config-file", os.path.join(REPO, "configs", "trainers", "CoOp" if trainer.startswith("Zeroshot") else trainer, f"{config}.yaml"),
        *flags, *FAST, *opts,
    ]


def build_trainer(argv: Sequence[str], seed: Optional[int] = None):
    """A trainer built from train.py's arguments as train.py builds it (config, data, model),
    without training; ``seed`` resets the random state first, as train.py's seed does."""
    from dassl.engine import build_trainer as build
    from dassl.utils import set_random_seed

    from runtime import cli

    if seed is not None:
        set_random_seed(seed)
    return build(cli.setup_cfg(cli.build_parser().parse_args(list(argv))))


def run_train(argv: Sequence[str]) -> None:
    from runtime.cli import run

    run(argv)


def read_log(out: str) -> str:
    with open(os.path.join(out, "log.txt")) as f:
        return f.read()


def epoch_losses(log: str) -> List[float]:
    """The running-average loss at the last batch of each epoch."""
    losses = {}
    for line in log.splitlines():
        match = PROGRESS.match(line)
        if match and match.group(3) == match.group(4):
            losses[int(match.group(1))] = float(match.group(6))
    return [losses[e] for e in sorted(losses)]


def final_accuracy(log: str) -> float:
    return float(ACCURACY.findall(log)[-1])
