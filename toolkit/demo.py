"""The README's first command: base-to-new generalisation, PLPP against CoOp, on a synthetic
dataset of coloured shapes generated on the spot; ends with the results table and a plot.

    python -m toolkit.demo                     # or: bash run.sh
    python -m toolkit.demo --seeds 1 2 3 --output output/demo

It uses the real CLIP ViT-B/16 weights when they are in the local cache (~/.cache/clip/ViT-B-16.pt,
or $CLIP_CHECKPOINT) and a tiny random-weight CLIP otherwise, and says which. With the tiny CLIP
the numbers show that the pipeline learns, not what CLIP can do. Every run goes through
``train.py`` with the protocol's layout, so the output folder looks like a real benchmark's.
"""
import argparse
import contextlib
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, TextIO

from PIL import Image

from runtime.engine import engine_description
from testing.dataset_fixtures import draw_shape
from testing.tiny_clip import save_tiny_clip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_CLIP = os.path.expanduser("~/.cache/clip/ViT-B-16.pt")
TINY_CLIP = os.path.expanduser("~/.cache/plpp-toolkit/demo/tiny-clip-vit-w128-l2.pt")

# Base classes (the first half of the labels) and new classes reuse the same colours and shapes
# in other pairs, so a prompt that generalises has something to carry over.
CLASSNAMES = [
    "red circle", "green square", "blue triangle", "yellow star", "purple diamond",
    "red square", "green triangle", "blue star", "yellow diamond", "purple circle",
]
COLOURS = {"red": (215, 40, 40), "green": (40, 165, 60), "blue": (45, 75, 215), "yellow": (230, 200, 30), "purple": (140, 50, 190)}
IMAGES_PER_SPLIT = {"train": 16, "val": 4, "test": 10}
IMAGE_SIZE = 96


@dataclass
class DemoSettings:
    """What differs between the real ViT-B/16 (slow on a CPU) and the tiny CLIP."""

    clip_path: str
    description: str
    epochs: int
    shots: int


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def draw_class_image(path: str, classname: str, rng: random.Random) -> None:
    """One image: the class's shape in its colour (jittered), at a random place and size."""
    colour_name, shape = classname.split(" ")
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), tuple(rng.randint(150, 255) for _ in range(3)))
    colour = tuple(min(255, max(0, c + rng.randint(-25, 25))) for c in COLOURS[colour_name])
    draw_shape(image, shape, colour, rng.randint(20, 34), rng)
    image.save(path)


def write_shapes_dataset(root: str) -> str:
    """The dataset in the custom-dataset layout (images, labels.csv, classnames.txt) and its
    config file; returns the config path. Written once; reused when present."""
    dataset_dir = os.path.join(root, "shapes")
    config_path = os.path.join(root, "shapes.yaml")
    if os.path.exists(config_path):
        return config_path
    rng = random.Random(0)
    rows = []
    for label, classname in enumerate(CLASSNAMES):
        folder = os.path.join(dataset_dir, "images", classname.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        for split, count in IMAGES_PER_SPLIT.items():
            for i in range(count):
                name = f"{split}_{i:02d}.png"
                draw_class_image(os.path.join(folder, name), classname, rng)
                rows.append(f"{os.path.basename(folder)}/{name},{label},{split}")
    with open(os.path.join(dataset_dir, "labels.csv"), "w") as f:
        f.write("path,label,split\n" + "\n".join(rows) + "\n")
    with open(os.path.join(dataset_dir, "classnames.txt"), "w") as f:
        f.write("\n".join(CLASSNAMES) + "\n")
    with open(config_path, "w") as f:
        f.write(
            "# The demo's synthetic dataset of coloured shapes (written by toolkit/demo.py).\n"
            "DATASET:\n"
            '  NAME: "CustomDataset"\n'
            "  CUSTOM:\n"
            '    DATASET_DIR: "shapes"\n'
            '    CSV: "labels.csv"\n'
            '    CLASSNAMES: "classnames.txt"\n'
        )
    return config_path


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------
def choose_clip() -> DemoSettings:
    """The real ViT-B/16 if it is cached locally, else a tiny random CLIP (written once)."""
    local = os.environ.get("CLIP_CHECKPOINT") or (REAL_CLIP if os.path.isfile(REAL_CLIP) else "")
    tiny_path = TINY_CLIP
    if local:
        return DemoSettings(local, f"real CLIP weights from {local}", epochs=5, shots=8)
    if not os.path.isfile(tiny_path):
        save_tiny_clip(tiny_path, fmt="jit", width=128, layers=2, logit_scale=100.0)
    return DemoSettings(
        tiny_path,
        f"a tiny random-weight CLIP ({tiny_path}); no real weights in {os.path.dirname(REAL_CLIP)}, so the "
        "numbers show the pipeline learning, not CLIP's accuracy",
        epochs=30, shots=16,
    )


class ProgressFilter:
    """Condenses train.py's console output to a line every few epochs and the test accuracy
    (its log.txt keeps everything)."""

    EPOCH = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\].* loss [\d.]+ \(([\d.]+)\).* acc [\d.]+ \(([\d.]+)\)")

    def __init__(self, console: TextIO):
        self.console = console
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            summary = self.summarize(line)
            if summary:
                self.console.write(f"    {summary}\n")
        return len(text)

    def summarize(self, line: str) -> str:
        if line.startswith("* accuracy:"):
            return "test " + line[2:]
        match = self.EPOCH.match(line)
        if not match:
            return ""
        epoch, epochs, batch, batches, loss, acc = match.groups()
        if batch != batches or not (epoch == "1" or epoch == epochs or int(epoch) % 5 == 0):
            return ""
        return f"epoch {epoch}/{epochs}: training loss {float(loss):.3f}, accuracy {float(acc):.1f}%"

    def flush(self) -> None:
        self.console.flush()

    def __getattr__(self, name: str):
        return getattr(self.console, name)


@contextlib.contextmanager
def progress_only() -> Iterator[None]:
    """Show only epoch summaries and results on the console; train.py's log.txt keeps everything."""
    console = sys.stdout
    sys.stdout = ProgressFilter(console)
    try:
        yield
    finally:
        sys.stdout = console


def base2new_runs(output: str, data_root: str, dataset_config: str, settings: DemoSettings,
                  trainers: Sequence[str], seeds: Sequence[int]) -> None:
    """Train on the base classes, then evaluate on the new ones, per trainer and seed, in the
    layout of scripts/<method>/base2new_{train,test}.sh."""
    common = [
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "50", "TRAIN.PRINT_FREQ", "100",
        "OPTIM.MAX_EPOCH", str(settings.epochs), "DATASET.NUM_SHOTS", str(settings.shots),
    ]
    from runtime import cli

    jobs = [(trainer, seed) for trainer in trainers for seed in seeds]
    for index, (trainer, seed) in enumerate(jobs, start=1):
        cfg = "vit_b16_ep50_ctxv1"
        run_dir = os.path.join(f"shapes/shots_{settings.shots}/{trainer}/{cfg}", f"seed{seed}")
        train_dir = os.path.join(output, "base2new", "train_base", run_dir)
        base = [
            "--root", data_root, "--seed", str(seed), "--trainer", trainer,
            "--dataset-config-file", dataset_config,
            "--config-file", os.path.join(REPO, "configs", "trainers", trainer, f"{cfg}.yaml"),
        ]
        started = time.time()
        print(f"[{index}/{len(jobs)}] {trainer}, seed {seed}: train on the base classes ({settings.epochs} epochs)")
        with progress_only():
            cli.run([*base, "--output-dir", train_dir, *common, "DATASET.SUBSAMPLE_CLASSES", "base"])
        print(f"[{index}/{len(jobs)}] {trainer}, seed {seed}: evaluate on the new classes")
        with progress_only():
            cli.run([*base, "--output-dir", os.path.join(output, "base2new", "test_new", run_dir),
                       "--model-dir", train_dir, "--load-epoch", str(settings.epochs), "--eval-only",
                       *common, "DATASET.SUBSAMPLE_CLASSES", "new"])
        print(f"[{index}/{len(jobs)}] done in {time.time() - started:.0f} s")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPO, "output", "demo"), help="output folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds per method")
    parser.add_argument("--trainers", nargs="+", default=["CoOp", "PLPP"], help="methods to compare")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    args = parser.parse_args(argv)

    print(f"Engine: {engine_description()}")
    started = time.time()
    settings = choose_clip()
    if args.epochs:
        settings.epochs = args.epochs
    print(f"CLIP: {settings.description}")
    os.environ["CLIP_CHECKPOINT"] = settings.clip_path

    data_root = os.path.join(args.output, "data")
    dataset_config = write_shapes_dataset(data_root)
    print(f"Data: {len(CLASSNAMES)} classes of coloured shapes in {data_root}; base: {', '.join(CLASSNAMES[:5])}; "
          f"new: {', '.join(CLASSNAMES[5:])} (chance: 20% on either half)")

    base2new_runs(args.output, data_root, dataset_config, settings, args.trainers, args.seeds)

    from toolkit import results

    results.main([args.output, "--protocol", "base2new", "--baseline", "CoOp"])
    print(f"Demo finished in {time.time() - started:.0f} s; runs and logs in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
