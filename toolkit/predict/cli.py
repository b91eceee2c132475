"""``python -m toolkit.predict``: classify images and folders with a finished run."""
import argparse
import os
import sys
from typing import Optional, Sequence

from runtime.status import BAD_INPUT, OK

DESCRIPTION = """Classify images with a finished run (any trainer: CoOp, PLPP, zero-shot CLIP, ...).

    python -m toolkit.predict output/base2new/train_base/.../seed1 photo.jpg holiday/ --topk 3
    python -m toolkit.predict RUN_DIR images/ --classnames new_classes.txt --out predictions.csv

RUN_DIR is a train.py --output-dir (a training or an --eval-only run); it records its trainer,
config, class names and checkpoint. Folders are read recursively. Each row of the output is
path, label_1, prob_1, ..., label_K, prob_K, from the most probable class.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit.predict", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a finished train.py output folder")
    parser.add_argument("images", nargs="+", help="image files and folders (read recursively)")
    parser.add_argument("--topk", type=int, default=5, help="classes per image (default 5)")
    parser.add_argument("--classnames", help="a text file with one class name per line, to rank instead of the run's own classes")
    parser.add_argument("--out", help="write the predictions to this .csv or .json file (default: print them)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: the run's DATALOADER.TEST.BATCH_SIZE)")
    parser.add_argument("--verbose", action="store_true", help="show the trainer's own build and load lines")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Bad input found before anything is loaded, as one ValueError."""
    if args.topk < 1:
        raise ValueError(f"--topk must be at least 1, got {args.topk}")
    if args.out and os.path.splitext(args.out)[1].lower() not in (".csv", ".json"):
        raise ValueError(f"--out must end in .csv or .json, got {args.out}")
    if args.out and os.path.exists(args.out) and not args.overwrite:
        raise ValueError(f"{args.out} exists: choose another --out, or pass --overwrite to replace it")
    missing = [path for path in args.images if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(f"No such image or folder: {', '.join(missing)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_arguments(args)
        from .classifier import PromptClassifier
        from .output import write_predictions
        from .run import read_classnames

        classnames = read_classnames(args.classnames) if args.classnames else None
        classifier = PromptClassifier.from_run(args.run_dir, classnames, verbose=args.verbose)
        predictions = classifier.predict(args.images, topk=args.topk, batch_size=args.batch_size, progress=True)
        if not predictions and classifier.skipped:
            path, reason = classifier.skipped[0]
            raise ValueError(f"none of the {len(classifier.skipped)} files given could be read as an image "
                             f"(first: {path}: {reason}); pass image files or folders of images")
    except (OSError, ValueError, KeyError) as e:
        if os.environ.get("PLPP_DEBUG"):
            raise
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return BAD_INPUT
    if args.out:
        write_predictions(predictions, args.out, args.topk)
        print(f"{len(predictions)} predictions written to {args.out}"
              + (f"; {len(classifier.skipped)} unreadable files skipped" if classifier.skipped else ""))
    else:
        for p in predictions:
            print(f"{p.path}: " + ", ".join(f"{label} {100 * prob:.1f}%" for label, prob in zip(p.labels, p.probs)))
    return OK
