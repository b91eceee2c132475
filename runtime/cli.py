"""``train.py``'s command line (CoOp's flags) and the run it starts.

The parser needs nothing heavy, so ``python train.py --help`` answers at once; torch, the
engine, the trainers and the datasets are imported only when a run starts.
"""
import argparse
import os
import sys
from typing import Optional, Sequence

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


def setup_cfg(args: argparse.Namespace):
    """The frozen config of a run: defaults, dataset YAML, method YAML, flags, then overrides."""
    from .config import default_config, merge_from_file, merge_from_list

    cfg = default_config()
    if args.dataset_config_file:
        merge_from_file(cfg, args.dataset_config_file)
    if args.config_file:
        merge_from_file(cfg, args.config_file)
    reset_cfg(cfg, args)
    merge_from_list(cfg, args.opts or [])
    cfg.freeze()
    return cfg


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


def main(args: argparse.Namespace) -> None:
    """One run, as CoOp's ``train.py`` makes it."""
    import torch
    from dassl.engine import build_trainer
    from dassl.utils import collect_env_info, set_random_seed, setup_logger

    from .engine import engine_description
    from .records import mark_finished, write_run_record

    cfg = setup_cfg(args)
    from .distributed import join, run_worker

    if join(cfg) > 0:  # under torchrun: every rank but 0 trains alongside it, silently
        return run_worker(args, cfg)
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True

    print(f"Engine: {engine_description()}")
    print_args(args, cfg)
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")
    write_run_record(cfg, cfg.OUTPUT_DIR, engine_description(), os.environ.get("CLIP_CHECKPOINT") or cfg.MODEL.BACKBONE.PATH or None)

    trainer = build_trainer(cfg)

    if args.eval_only:
        if trainer.get_model_names() and not args.model_dir:
            raise ValueError("--eval-only needs --model-dir (the training output folder) and usually --load-epoch")
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        mark_finished(cfg.OUTPUT_DIR, "eval", classnames=list(trainer.dm.dataset.classnames),
                      model_dir=os.path.abspath(args.model_dir) if args.model_dir else None, load_epoch=args.load_epoch)
        return
    if not args.no_train:
        trainer.train()
        # The final test used the last epoch's weights, or model-best (load_epoch None).
        last = cfg.OPTIM.MAX_EPOCH if cfg.TEST.FINAL_MODEL == "last_step" else None
        mark_finished(cfg.OUTPUT_DIR, "train", classnames=list(trainer.dm.dataset.classnames), load_epoch=last)


def run(argv: Sequence[str]) -> None:
    """``python train.py ARGV`` inside this process (the demo, the tests): one torch import for
    many runs. Dassl's logger replaces stdout with a tee to log.txt; the console comes back after."""
    console = sys.stdout
    try:
        main(build_parser().parse_args(list(argv)))
    finally:
        if sys.stdout is not console:
            sys.stdout.close()
            sys.stdout = console


def entry_point(argv: Optional[Sequence[str]] = None) -> None:
    """``python train.py``: bad input ends in one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        main(args)
    except USER_ERRORS as e:
        if os.environ.get("PLPP_DEBUG"):
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
