"""What the benchmarks share: the random CLIP they load, synthetic datasets, trainers built
through train.py's own config path, and timing of two sides alternately."""
import argparse
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402
from PIL import Image  # noqa: E402

# Class names of one to three words, like the benchmarks' (e.g. "golden retriever").
WORDS = ["red", "striped", "wild", "common", "giant", "desert", "mountain", "river", "night", "garden"]
NOUNS = ["fox", "lily", "truck", "heron", "maple", "canyon", "violin", "lantern", "beetle", "ferry"]


class Context(NamedTuple):
    """One benchmark run: where it writes, which CLIP it loads, how hard it measures."""
    root: str  # scratch folder of this run
    quick: bool  # small CLIP and sizes: a smoke run of every figure in minutes
    repeats: int  # timed rounds per side (medians)
    clip: str  # CLIP checkpoint every trainer loads ($CLIP_CHECKPOINT)


def class_names(n: int) -> List[str]:
    return [" ".join(([WORDS[i % 10]] if i % 3 else []) + ([WORDS[(i // 10) % 10]] if i % 4 == 0 else []) + [NOUNS[i % 10]]) + f" {i}"
            for i in range(n)]


def write_dataset(root: str, n_classes: int, images_per_class: int = 3, train_fraction: float = 0.34) -> str:
    """An ImageFolder dataset of tiny images under ``root`` and its config; returns the config."""
    images = os.path.join(root, "bench", "images")
    for i, name in enumerate(class_names(n_classes)):
        folder = os.path.join(images, name.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        for j in range(images_per_class):
            Image.new("RGB", (32, 32), ((37 * i) % 255, (11 * j) % 255, 90)).save(os.path.join(folder, f"{j}.png"))
    config = os.path.join(root, "bench.yaml")
    with open(config, "w") as f:
        f.write('DATASET:\n  NAME: "CustomDataset"\n  CUSTOM:\n    DATASET_DIR: "bench"\n'
                f"    TRAIN_FRACTION: {train_fraction}\n    VAL_FRACTION: 0.0\n")
    return config


def write_random_clip(path: str, quick: bool) -> str:
    """CLIP ViT-B/16's architecture with random weights (fp16, as released); ``quick``: a small
    ViT (width 128, 2 layers per tower) with CLIP's vocabulary and resolution."""
    from clip.model import CLIP, convert_weights

    torch.manual_seed(0)
    if quick:
        from testing.tiny_clip import build_tiny_clip

        model = build_tiny_clip(width=128, layers=2, embed_dim=128)
    else:
        model = CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
                     context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12)
        convert_weights(model)
    torch.save(model.state_dict(), path)
    return path


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def precision_opts(trainer: str = "CoOp") -> List[str]:
    node = {"CoCoOp": "COCOOP", "KgCoOp": "KGCOOP"}.get(trainer.split("_")[0], "COOP")
    return [f"TRAINER.{node}.PREC", "amp" if device() == "cuda" else "fp32"]


def build(name: str, root: str, dataset_config: str, opts: List[str] = (), config: str = "vit_b16_ep50"):
    """A trainer as train.py builds it (never at an epoch's last batch: no LR step when timed)."""
    import trainers  # noqa: F401  (selects the engine, registers the trainers)
    from dassl.engine import build_trainer
    from runtime import cli

    args = cli.build_parser().parse_args([
        "--root", root, "--trainer", name, "--dataset-config-file", dataset_config,
        "--config-file", os.path.join(REPO, "configs", "trainers", name, f"{config}.yaml"),
        "--output-dir", os.path.join(root, "out", name),
        "DATALOADER.NUM_WORKERS", "0", "VERBOSE", "False", *precision_opts(name), *opts,
    ])
    trainer = build_trainer(cli.setup_cfg(args))
    trainer.batch_idx, trainer.num_batches = 0, 10 ** 9
    return trainer


def timed(fn: Callable[[], object]) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def paired_medians(first: Callable[[], object], second: Callable[[], object], repeats: int,
                   warm_up: bool = True) -> Tuple[float, float]:
    """Median times of two functions measured alternately (after one warm-up each), so that a
    change in machine load affects both alike."""
    if warm_up:
        first(), second()
    pairs = [(timed(first), timed(second)) for _ in range(repeats)]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


def figure(name: str, left: str, left_value: float, right: str, right_value: float, unit: str = "s", **details) -> Dict:
    """One row of the table: two sides measured in one run and left / right."""
    return {"figure": name, "left": left, "left_value": left_value, "right": right, "right_value": right_value,
            "unit": unit, "ratio": left_value / right_value if right_value else None, **details}


def machine() -> Dict[str, object]:
    """What the figures were measured on."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = round(os.getloadavg()[0], 2)
    return info


def write_script_figures(script: str, rows: List[Dict], out: str) -> None:
    """A benchmark script's rows: printed, and written to ``out`` (JSON) with the machine and command."""
    import json

    from benchmarks.__main__ import print_figures

    print_figures(rows)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"command": " ".join([f"python -m {script}", *sys.argv[1:]]), "machine": machine(), "figures": rows}, f, indent=2)
    print(f"written: {out}")


def context_from_args(description: str) -> Context:
    """Parse ``--quick`` / ``--repeats`` for one benchmark run as a script."""
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    return new_context(tempfile.mkdtemp(prefix="plpp-bench-"), args.quick, args.repeats)


def layered_script_parser(description: str, name: str, quick_help: str) -> argparse.ArgumentParser:
    """The command line of a benchmark script whose towers have ViT-B/16's widths at ``--layers``
    depth (``python -m benchmarks.<name>``; figures written to ``output/benchmarks/<name>.json``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=0, help="layers per tower (default: 12 on CUDA, 1 on the CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=os.path.join(REPO, "output", "benchmarks", f"{name}.json"))
    return parser


def layered_script_context(name: str, args: argparse.Namespace) -> Context:
    """A fresh scratch folder and $CLIP_CHECKPOINT; without it, a path under the folder, which the
    script's ``figures`` replaces by its random ViT-B/16-shaped CLIP."""
    import tempfile

    root = tempfile.mkdtemp(prefix=f"plpp-bench-{name}-")
    return Context(root, args.quick, args.repeats, os.environ.get("CLIP_CHECKPOINT") or os.path.join(root, "random"))


def new_context(root: str, quick: bool, repeats: int) -> Context:
    clip = os.environ.get("CLIP_CHECKPOINT") or write_random_clip(os.path.join(root, "clip_random.pt"), quick)
    os.environ["CLIP_CHECKPOINT"] = clip
    os.environ.setdefault("PLPP_FEATURE_CACHE_DIR", os.path.join(root, "feature-cache"))
    return Context(root, quick, repeats, clip)
