"""``train.py``'s command line (CoOp's flags) and the run it starts.

The parser needs nothing heavy, so ``python train.py --help`` answers at once; torch, the
engine, the trainers and the datasets are imported only when a run starts.
"""
import argparse
import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from . import status

DESCRIPTION = """Train or evaluate a prompt learner on CLIP, with CoOp's command line.

    python train.py --root $DATA --seed 1 --trainer PLPP \\
        --dataset-config-file configs/datasets/oxford_pets.yaml \\
        --config-file configs/trainers/PLPP/vit_b16_ep50.yaml \\
        --output-dir output/oxford_pets/PLPP/seed1 DATASET.NUM_SHOTS 16

Trailing ``KEY VALUE`` pairs override the config. Evaluation only:
``--eval-only --model-dir <train output> --load-epoch <E>``.
"""

# Exceptions that mean "bad input": shown as one line (set PLPP_DEBUG=1 for the traceback).
USER_ERRORS = (OSError, ValueError, KeyError)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=str, default="", help="path to the datasets folder ($DATA)")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume training from")
    parser.add_argument("--seed", type=int, default=-1, help="only a positive value fixes the seed")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to the method config file")
    parser.add_argument("--dataset-config-file", type=str, default="", help="path to the dataset config file")
    parser.add_argument("--trainer", type=str, default="", help="name of trainer, e.g. CoOp or PLPP")
    parser.add_argument("--backbone", type=str, default="", help="name of CLIP backbone, e.g. ViT-B/16")
    parser.add_argument("--head", type=str, default="", help="name of head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory for eval-only mode")
    parser.add_argument("--load-epoch", type=int, help="load the model weights saved at this epoch")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="modify config options using the command-line")
    return parser


def reset_cfg(cfg, args: argparse.Namespace) -> None:
    """Copy the command-line flags into the config (a flag left empty keeps the config's value)."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed:  # as in CoOp: --seed 0 counts as unset
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def setup_cfg(args: argparse.Namespace, defaults=None):
    """The frozen config of a run: defaults, dataset YAML, method YAML, flags, then overrides
    (``defaults``: ``default_config()`` made once by a caller that sets up many runs)."""
    import yaml

    from .config import default_config, merge_from_file, merge_from_list

    cfg = defaults.clone() if defaults is not None else default_config()
    for path in (args.dataset_config_file, args.config_file):
        if not path:
            continue
        try:
            merge_from_file(cfg, path)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ValueError(f"Config file {path} is not valid YAML{where} ({problem}); fix it there") from None
    reset_cfg(cfg, args)
    merge_from_list(cfg, args.opts or [])
    from trainers.open_clip_weights import input_settings

    for change in input_settings(cfg):  # an open_clip model's own preprocessing
        print(f"Note: {change} (the backbone's preprocessing)")
    cfg.freeze()
    return cfg


def check_trailing_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A flag after the ``KEY VALUE`` overrides would be read as a config key: say so instead."""
    flags = set(parser._option_string_actions)
    misplaced = [item for item in (args.opts or [])[::2] if item in flags or item.split("=")[0] in flags]
    if misplaced:
        raise ValueError(
            f"{misplaced[0]} comes after the KEY VALUE config overrides, where it would be read as a config key; "
            "put train.py's flags before the overrides"
        )


def print_args(args: argparse.Namespace, cfg) -> None:
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def check_output_folders(args: argparse.Namespace, cfg) -> bool:
    """Refuse, before anything is written, a call that would make a folder's records lie;
    returns whether the call resumes a training run."""
    from .records import is_training_folder, settings_differences, training_checkpoints

    out = cfg.OUTPUT_DIR
    if args.resume and not os.path.isdir(args.resume):
        raise FileNotFoundError(f"--resume {args.resume} does not exist; give the output folder of the run to resume")
    if args.eval_only:
        if args.model_dir and os.path.abspath(args.model_dir) == os.path.abspath(out) or is_training_folder(out):
            raise ValueError(
                f"--output-dir {out} holds a training run; give the evaluation a folder of its own "
                f"(e.g. --output-dir {out.rstrip(os.sep)}_eval), so the training records stay as they are"
            )
        return False
    if args.no_train:
        return False
    resume_dir = cfg.RESUME or out
    if not training_checkpoints(resume_dir):
        return False
    differences = settings_differences(cfg, resume_dir)
    if differences:
        raise ValueError(
            f"{resume_dir} holds a run trained with other settings ({'; '.join(differences)}); rerun with its "
            f"settings ({os.path.join(resume_dir, 'config.yaml')}) to resume it, or start over in a new --output-dir"
        )
    return True


class EarlyOutput:
    """Stdout until a run has started: shown on the console and kept, so that the log file,
    created only once nothing can fail on bad input any more, still starts at the first line."""

    def __init__(self, console):
        self.console = console
        self.lines: List[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return self.console.write(text)

    def flush(self) -> None:
        self.console.flush()

    def __getattr__(self, name: str):
        return getattr(self.console, name)

    def into_log(self, output_dir: str) -> None:
        """Start the log (Dassl's ``setup_logger``) with everything printed so far."""
        from dassl.utils import setup_logger

        sys.stdout = self.console
        setup_logger(output_dir)
        log = getattr(sys.stdout, "file", None)
        if log is not None:
            log.write("".join(self.lines))
            log.flush()


class Interrupted(Exception):
    """A stop signal outside the epoch loop: nothing to save, the rerun continues."""


@contextlib.contextmanager
def stop_signals(current_trainer: Callable[[], object]) -> Iterator[None]:
    """SIGTERM and SIGUSR1 (SLURM's warnings before preemption or the time limit) ask the
    training loop to save a resumable checkpoint and stop; outside the loop they stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        request_stop = getattr(current_trainer(), "request_stop", None)
        if request_stop is not None and request_stop(name):
            print(f"{name} received: saving a resumable checkpoint after this batch", flush=True)
            return
        raise Interrupted(f"Stopped by {name} outside the training loop (nothing to save); rerun the same command to continue")

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def main(args: argparse.Namespace) -> None:
    """One run, as CoOp's ``train.py`` makes it; bad input fails before the output folder changes."""
    cfg = setup_cfg(args)
    resumed = check_output_folders(args, cfg)
    from .distributed import join, run_worker

    if join(cfg) > 0:  # under torchrun: every rank but 0 trains alongside it, silently
        return run_worker(args, cfg)

    import torch
    from dassl.engine import build_trainer
    from dassl.utils import collect_env_info, set_random_seed

    from .engine import engine_description
    from .lock import folder_lock
    from .records import mark_finished, write_run_record

    trainer = None
    early = EarlyOutput(sys.stdout)
    with folder_lock(cfg.OUTPUT_DIR), stop_signals(lambda: trainer):
        sys.stdout = early
        if cfg.SEED >= 0:
            print(f"Setting fixed seed: {cfg.SEED}")
            set_random_seed(cfg.SEED)
        if torch.cuda.is_available() and cfg.USE_CUDA:
            torch.backends.cudnn.benchmark = True
        print(f"Engine: {engine_description()}")
        print_args(args, cfg)
        print("Collecting env info ...")
        print(f"** System info **\n{collect_env_info()}\n")
        try:
            trainer = build_trainer(cfg)
            if args.eval_only:
                if trainer.get_model_names() and not args.model_dir:
                    raise ValueError("--eval-only needs --model-dir (the training output folder) and usually --load-epoch")
                trainer.load_model(args.model_dir, epoch=args.load_epoch)
        finally:
            if sys.stdout is early:
                sys.stdout = early.console
        early.into_log(cfg.OUTPUT_DIR)
        if args.no_train:
            return
        dataset = trainer.dm.dataset
        write_run_record(cfg, cfg.OUTPUT_DIR, engine_description(), os.environ.get("CLIP_CHECKPOINT") or cfg.MODEL.BACKBONE.PATH or None,
                         mode="eval" if args.eval_only else "train", resumed=resumed,
                         data_warnings=getattr(dataset, "data_warnings", ()))
        if args.eval_only:
            trainer.test()
            mark_finished(cfg.OUTPUT_DIR, "eval", classnames=list(dataset.classnames),
                          model_dir=os.path.abspath(args.model_dir) if args.model_dir else None, load_epoch=args.load_epoch)
            return
        trainer.train()
        # The final test used the last epoch's weights, or model-best (load_epoch None).
        last = cfg.OPTIM.MAX_EPOCH if cfg.TEST.FINAL_MODEL == "last_step" else None
        mark_finished(cfg.OUTPUT_DIR, "train", classnames=list(dataset.classnames), load_epoch=last)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_trailing_flags(parser, args)
    return args


def run(argv: Sequence[str]) -> None:
    """``python train.py ARGV`` inside this process (the demo, the tests): one torch import for
    many runs. Dassl's logger replaces stdout with a tee to log.txt; the console comes back after."""
    console = sys.stdout
    try:
        main(parse_args(list(argv)))
    finally:
        if sys.stdout is not console:
            sys.stdout.close()
            sys.stdout = console


def exit_status(error: BaseException) -> Tuple[int, str]:
    """The exit status and the one line for an error that is not a bug (status 0: it is one)."""
    from .lock import FolderBusy

    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, KeyboardInterrupt):
        return status.CTRL_C, "Stopped by Ctrl-C; rerun the same command to continue from the last saved epoch"
    if isinstance(error, FolderBusy):
        return status.BUSY, message
    if isinstance(error, Interrupted) or type(error).__name__ == "TrainingInterrupted":
        return status.INTERRUPTED, message
    if isinstance(error, FloatingPointError):
        return status.DIVERGED, message
    if isinstance(error, USER_ERRORS):
        return status.BAD_INPUT, message
    return status.OK, ""


def entry_point(argv: Optional[Sequence[str]] = None) -> None:
    """``python train.py``: anything but a bug ends in one line on stderr and the status of
    ``runtime.status`` (bad input 2, busy folder 3, divergence 4, stop signal 75, Ctrl-C 130)."""
    try:
        main(parse_args(argv))
    except (Exception, KeyboardInterrupt) as e:
        code, message = exit_status(e)
        if not code or os.environ.get("PLPP_DEBUG"):
            raise
        print(f"error: {message}" if code in (status.BAD_INPUT, status.BUSY, status.DIVERGED) else message,
              file=sys.stderr, flush=True)
        sys.exit(code)
