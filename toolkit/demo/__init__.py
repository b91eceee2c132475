"""The README's first command: zero-shot CLIP, CoOp, PLPP and the other methods base-to-new on a
synthetic world of coloured shapes, with a CLIP that has learned that world; ends with the
results table, a plot, one prediction with a learned prompt and the prompt's nearest words, and
whether PLPP's perplexity term had a signal on that CLIP (CoOp's and PLPP's prompts side by side).

    python -m toolkit.demo                     # or: bash run.sh
    python -m toolkit.demo --seeds 1 2 3 --trainers CoOp PLPP --output output/demo

With the real CLIP ViT-B/16 weights in the local cache (~/.cache/clip/ViT-B-16.pt, or
$CLIP_CHECKPOINT) it uses them. Otherwise it uses the demo CLIP: a tiny ``clip.model.CLIP``
pretrained contrastively on captioned pictures of the world (``pretrain.py``, a few minutes on a
CPU, then cached), whose downstream photos are shifted from its pretraining pictures
(``world.py``). Every run goes through ``train.py`` with the protocol's layout, so the output
folder looks like a real benchmark's and ``python -m toolkit.results`` reads it.
"""
import argparse
import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, TextIO

from runtime.engine import engine_description
from toolkit.protocols.methods import defaults, resolve_params

from . import world
from .pretrain import CACHE_DIR, PretrainSettings, cached_demo_clip, read_record

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_CLIP = os.path.expanduser("~/.cache/clip/ViT-B-16.pt")
IMAGES_PER_SPLIT = {"train": 16, "val": 4, "test": 20}
REAL_CLIP_IMAGE_SIZE = 96  # pictures for ViT-B/16 (upscaled to 224 by the test transform)
ZERO_SHOT = "ZeroshotCLIP"
PRETRAINING = PretrainSettings()  # the demo CLIP's size and pretraining run

# Methods compared with zero-shot CLIP by default: CoOp, PLPP and the round-2 methods whose
# prompts fit the demo CLIP's two layers (MaPLe, IVLP and PromptSRC prompt 9 to 12 layers deep:
# run them with real weights, --trainers MaPLe ...). Each runs with its base-to-new config and the
# options its reference scripts pass (toolkit/protocols/methods.py, as the protocol scripts do);
# only the CLIP, the shots and, with the real ViT-B/16 on a CPU, the epochs are the demo's.
DEFAULT_TRAINERS = ["CoOp", "PLPP", "KgCoOp", "CoCoOp"]
ZERO_SHOT_CONFIG = "vit_b16"  # in configs/trainers/CoOp/, as the zero-shot scripts use


@dataclass
class DemoSettings:
    """What differs between the real ViT-B/16 (slow on a CPU) and the demo CLIP."""

    clip_path: str
    description: str
    epochs: Optional[int]  # None: each method's config's own
    shots: int
    image_size: int  # the pictures' size on disk
    opts: List[str] = field(default_factory=list)  # config overrides for every run


def choose_clip(settings: PretrainSettings, cache_dir: str) -> DemoSettings:
    """The real ViT-B/16 if it is cached locally, else the demo CLIP of ``settings`` (pretrained
    once, then read from ``cache_dir``)."""
    local = os.environ.get("CLIP_CHECKPOINT") or (REAL_CLIP if os.path.isfile(REAL_CLIP) else "")
    if local:
        return DemoSettings(local, f"real CLIP weights from {local}", epochs=5, shots=8, image_size=REAL_CLIP_IMAGE_SIZE)
    path = cached_demo_clip(settings, cache_dir)
    accuracy = read_record(path)["zero_shot_accuracy"]
    size = settings.image_size
    return DemoSettings(
        path,
        f"the demo CLIP ({path}): width {settings.width}, {settings.layers} layers, {size}-pixel input, pretrained on "
        f"captioned pictures of the world; zero-shot on its own check photos: base {accuracy['base']:.1f}%, "
        f"new {accuracy['new']:.1f}% (no real weights in {os.path.dirname(REAL_CLIP)})",
        epochs=None, shots=16, image_size=size, opts=["INPUT.SIZE", f"({size}, {size})"],
    )


def cpu_threads() -> int:
    """Torch threads for this machine now: its idle cores (at least one). Threads that share a
    busy core spin-wait: on 2 cores at a load of 8, 2 threads ran a training step 10x slower
    than 1. $OMP_NUM_THREADS, when set, decides instead."""
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = os.cpu_count() or 1
    return max(1, min(cores, round(cores - os.getloadavg()[0])))


# ---------------------------------------------------------------------------------------------
# Console
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------
def config_path(trainer: str) -> str:
    if trainer == ZERO_SHOT:
        return os.path.join(REPO, "configs", "trainers", "CoOp", f"{ZERO_SHOT_CONFIG}.yaml")
    row = defaults(trainer)
    return os.path.join(REPO, "configs", "trainers", row.config_dir(trainer), f"{row.base2new}.yaml")


def method_opts(trainer: str, training: bool) -> List[str]:
    """The options the method's base-to-new scripts pass (``training``: with the training-only ones)."""
    row = defaults(trainer)
    values = resolve_params(trainer, {})
    return [o.format(**values) for o in (row.opts + row.train_opts if training else row.opts)]


def epochs_of(trainer: str, settings: DemoSettings) -> int:
    """The demo's number of epochs for ``trainer``: the method's config's, unless overridden."""
    from runtime.config import config_file_value

    return settings.epochs or int(config_file_value(config_path(trainer), "OPTIM.MAX_EPOCH"))


def run_dir(output: str, part: str, trainer: str, settings: DemoSettings, seed: int) -> str:
    """The run's folder in the layout of scripts/<method>/base2new_{train,test}.sh."""
    config = os.path.splitext(os.path.basename(config_path(trainer)))[0]
    suffix = "" if trainer == ZERO_SHOT else defaults(trainer).shots_suffix.format(**resolve_params(trainer, {}))
    return os.path.join(output, "base2new", part, "shapes", f"shots_{settings.shots}{suffix}", trainer, config, f"seed{seed}")


def reusable(out: str, settings: DemoSettings) -> bool:
    """Whether ``out`` holds a finished run made with this CLIP, number of epochs and of shots."""
    import yaml

    from runtime.records import is_finished

    if not is_finished(out):
        return False
    try:
        with open(os.path.join(out, "environment.json")) as f:
            clip_path = json.load(f).get("clip_checkpoint")
        with open(os.path.join(out, "config.yaml")) as f:
            cfg = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return (clip_path == settings.clip_path and cfg["OPTIM"]["MAX_EPOCH"] == epochs_of(cfg["TRAINER"]["NAME"], settings)
            and cfg["DATASET"]["NUM_SHOTS"] == settings.shots)


def base2new_runs(output: str, data_root: str, dataset_config: str, settings: DemoSettings,
                  trainers: Sequence[str], seeds: Sequence[int]) -> None:
    """Zero-shot CLIP on both halves; each method trained on the base classes, then evaluated on
    the new ones, per seed. A finished run of the same settings is kept (a second demo into the
    same folder reuses it); any other run folder in the way is moved aside to
    ``<folder>.replaced-<time>``, never deleted."""
    from runtime import cli
    from runtime.records import read_finished

    common = [
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "100", "TRAIN.PRINT_FREQ", "100",
        "DATASET.NUM_SHOTS", str(settings.shots), *settings.opts,
    ]
    jobs = [(trainer, seed) for trainer in [ZERO_SHOT, *trainers] for seed in seeds]
    for index, (trainer, seed) in enumerate(jobs, start=1):
        base = [
            "--root", data_root, "--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config,
            "--config-file", config_path(trainer),
        ]
        epochs = epochs_of(trainer, settings)
        common_opts = [*common, "OPTIM.MAX_EPOCH", str(epochs)]
        started = time.time()
        train_dir = run_dir(output, "train_base", trainer, settings, seed)
        if trainer == ZERO_SHOT:
            steps = [("test_base", "base"), ("test_new", "new")]
        else:
            steps = [("train_base", "base"), ("test_new", "new")]
        trained = False  # an evaluation is kept only if the training it evaluates was kept too
        for part, classes in steps:
            out = run_dir(output, part, trainer, settings, seed)
            what = "train on the base classes" if part == "train_base" else f"evaluate on the {classes} classes"
            if not trained and reusable(out, settings):
                print(f"[{index}/{len(jobs)}] {trainer}, seed {seed}: {what}: done before with these settings, kept")
                continue
            if os.path.exists(out):
                os.replace(out, f"{out}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            print(f"[{index}/{len(jobs)}] {trainer}, seed {seed}: {what}"
                  + (f" ({epochs} epoch{'s' if epochs > 1 else ''})" if part == "train_base" else ""))
            eval_flags = [] if part == "train_base" else ["--eval-only"]
            if part == "test_new" and trainer != ZERO_SHOT:  # the checkpoint the training run ended with
                eval_flags += ["--model-dir", train_dir, "--load-epoch", str(read_finished(train_dir)["load_epoch"])]
            opts = [*common_opts, *([] if trainer == ZERO_SHOT else method_opts(trainer, part == "train_base"))]
            with progress_only():
                cli.run([*base, "--output-dir", out, *eval_flags, *opts, "DATASET.SUBSAMPLE_CLASSES", classes])
            trained = trained or part == "train_base"
        print(f"[{index}/{len(jobs)}] done in {time.time() - started:.0f} s")


def prediction_example(output: str, data_root: str, settings: DemoSettings, trainer: str, seed: int,
                       interpret_prompt: bool = True) -> None:
    """One new-class photo classified with the base-trained prompt (toolkit.predict), and (with
    ``interpret_prompt``) the prompt's nearest words (toolkit.interpret)."""
    from toolkit import interpret
    from toolkit.predict import PromptClassifier

    half = len(world.CLASSNAMES) // 2
    new_classes = list(world.CLASSNAMES[half:])
    image = os.path.join(world.dataset_folder(data_root, settings.image_size), "images",
                         new_classes[0].replace(" ", "_"), "test_00.png")
    train_dir = run_dir(output, "train_base", trainer, settings, seed)
    classifier = PromptClassifier.from_run(train_dir, classnames=new_classes)
    prediction = classifier.predict(image, topk=3)[0]
    print(f"\nPredict: {trainer}'s prompt (seed {seed}, trained on the base classes) ranks the new classes for {image}:")
    print("    " + ", ".join(f"{label} {100 * prob:.1f}%" for label, prob in zip(prediction.labels, prediction.probs))
          + f"   (true class: {new_classes[0]})")
    print(f"    the same from the shell: python -m toolkit.predict {train_dir} IMAGE_OR_FOLDER --classnames FILE")

    if interpret_prompt:
        print(f"\nInterpret: the nearest words of {trainer}'s learned context (python -m toolkit.interpret):")
        interpret.main([train_dir, "--topk", "3"])


def plpp_signal(output: str, settings: DemoSettings, seed: int) -> None:
    """Whether PLPP's perplexity term could act on this CLIP (its run log's signal lines: the LM
    head's distance from uniform over the candidate words, at the start and the last epoch), and
    CoOp's and PLPP's prompts side by side, which ends with one warning line if the head is flat:
    then the PLPP rows above measure the inverted term and noise, not the perplexity term."""
    from toolkit import interpret

    plpp_dir = run_dir(output, "train_base", "PLPP", settings, seed)
    log_path = os.path.join(plpp_dir, "log.txt")
    with open(log_path) as f:
        lines = [line.rstrip("\n") for line in f]
    signal = [line for line in lines if line.startswith("PLPP signal ")]
    print(f"\nPLPP's perplexity term on this CLIP (seed {seed}, from {log_path}):")
    for line in signal[:1] + signal[-1:]:
        print(f"    {line}")
    print("\nInterpret: CoOp's and PLPP's learned contexts side by side (python -m toolkit.interpret COOP_RUN PLPP_RUN):")
    interpret.main([run_dir(output, "train_base", "CoOp", settings, seed), plpp_dir, "--topk", "2"])


@contextlib.contextmanager
def clip_checkpoint(path: str) -> Iterator[None]:
    """Every CLIP load in the block reads ``path`` ($CLIP_CHECKPOINT), as before it afterwards."""
    before = os.environ.get("CLIP_CHECKPOINT")
    os.environ["CLIP_CHECKPOINT"] = path
    try:
        yield
    finally:
        if before is None:
            del os.environ["CLIP_CHECKPOINT"]
        else:
            os.environ["CLIP_CHECKPOINT"] = before


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPO, "output", "demo"), help="output folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds per method")
    parser.add_argument("--trainers", nargs="+", help=f"methods to compare with zero-shot CLIP (default: {' '.join(DEFAULT_TRAINERS)})")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    args = parser.parse_args(argv)

    import torch

    import trainers  # noqa: F401  (registers every trainer)
    from dassl.engine import TRAINER_REGISTRY

    registered = TRAINER_REGISTRY.registered_names()
    unknown = [t for t in args.trainers or [] if t not in registered or t == ZERO_SHOT]
    if unknown:
        print(f"error: unknown method {', '.join(unknown)}; choose from {', '.join(sorted(set(registered) - {ZERO_SHOT}))}", file=sys.stderr)
        return 2
    args.trainers = args.trainers or [t for t in DEFAULT_TRAINERS if t in registered]

    started = time.time()
    torch.set_num_threads(cpu_threads())
    print(f"Engine: {engine_description()}")
    print(f"CPU: {torch.get_num_threads()} torch thread(s) on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})")
    settings = choose_clip(PRETRAINING, CACHE_DIR)
    if args.epochs:
        settings.epochs = args.epochs
    print(f"CLIP: {settings.description}")
    with clip_checkpoint(settings.clip_path):
        data_root = os.path.join(args.output, "data")
        dataset_config = world.write_downstream_dataset(data_root, IMAGES_PER_SPLIT, settings.image_size)
        half = len(world.CLASSNAMES) // 2
        print(f"Data: {len(world.CLASSNAMES)} classes of coloured shapes on shifted photos in {data_root}; "
              f"base: {', '.join(world.CLASSNAMES[:half])}; new: {', '.join(world.CLASSNAMES[half:])} "
              f"(chance: {100 / half:.1f}% on either half)")

        base2new_runs(args.output, data_root, dataset_config, settings, args.trainers, args.seeds)

        from toolkit import results

        shown_methods = [ZERO_SHOT, *args.trainers]  # not the runs of other settings an older demo left there
        configs = sorted({os.path.splitext(os.path.basename(config_path(t)))[0] for t in shown_methods})
        results.main([args.output, "--protocol", "base2new", "--trainer", ",".join(shown_methods), "--cfg", ",".join(configs),
                      "--baseline", "CoOp" if "CoOp" in args.trainers else args.trainers[0]])
        shown = "PLPP" if "PLPP" in args.trainers else args.trainers[-1]
        side_by_side = {"CoOp", "PLPP"} <= set(args.trainers)
        prediction_example(args.output, data_root, settings, shown, args.seeds[0], interpret_prompt=not side_by_side)
        if side_by_side:
            plpp_signal(args.output, settings, args.seeds[0])
    print(f"\nDemo finished in {time.time() - started:.0f} s; runs and logs in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
