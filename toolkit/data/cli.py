"""Get, check and repair the CoOp datasets on disk.

    python -m toolkit.data download NAME... --root DIR     fetch archives and split files
    python -m toolkit.data check NAME... --root DIR        count, find missing or corrupt images
    python -m toolkit.data fold-imagenet-val --root DIR --labels FILE
                                                           sort ImageNet's flat val images into wnid folders
    python -m toolkit.data list                            names, folders, expected sizes

NAME is a config name (``oxford_pets``), a dataset name (``OxfordPets``) or ``all``.
Downloads resume where they stopped (HTTP Range), are checked against known MD5 sums, try
mirrors in turn and, when every source fails or the data needs a manual step (ImageNet),
print the manual steps instead of a traceback. An archive placed in the dataset folder by hand
is used as it is: rerun ``download`` to unpack it and apply the renames CoOp's README asks for.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

from runtime import catalogue

from .checking import MAX_LINES_PER_KIND, check
from .fetching import download
from .imagenet_val import default_val_dir, fold_imagenet_val, preprocessed_file


def _run_download(args: argparse.Namespace) -> int:
    selected = catalogue.resolve(args.names)
    ready = [download(dataset, args.root, keep_archives=args.keep_archives) for dataset in selected]
    return 0 if all(ready) else 1


def _run_check(args: argparse.Namespace) -> int:
    selected = catalogue.resolve(args.names)  # unknown names fail before torch is imported
    import datasets  # noqa: F401  (selects the engine, registers the dataset classes)

    total = 0
    for dataset in selected:
        lines = check(dataset, args.root, decode=not args.no_decode, compare_sizes=not args.skip_sizes, jobs=args.jobs)
        for line in lines:
            print(line)
        total += len(lines)
    print(f"{total} problem{'s' if total != 1 else ''} found" if total else "no problems found")
    return 1 if total else 0


def _run_fold(args: argparse.Namespace) -> int:
    val_dir = args.val_dir or default_val_dir(args.root)
    moved, unlabelled = fold_imagenet_val(val_dir, args.labels)
    print(f"moved {moved} images of {val_dir} into wnid folders")
    preprocessed = preprocessed_file(val_dir)
    if moved and osp.exists(preprocessed):
        print(f"delete {preprocessed}: it was made from the old layout")
    name = catalogue.record("imagenet").dataset_name
    for image in unlabelled[:MAX_LINES_PER_KIND]:
        print(f"{name}: no label for val image {osp.join(val_dir, image)} in {args.labels}")
    if len(unlabelled) > MAX_LINES_PER_KIND:
        print(f"{name}: ... and {len(unlabelled) - MAX_LINES_PER_KIND} more images without a label")
    return 1 if unlabelled else 0


def _run_list(args: argparse.Namespace) -> int:
    for dataset in catalogue.RECORDS:
        sizes = " / ".join(f"{split} {count}" for split, count in dataset.sizes.items())
        print(
            f"{dataset.name:<16} {dataset.dataset_name:<20} {dataset.dataset_dir + '/':<22} "
            f"{dataset.num_classes:>4} classes, {sizes}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    names_help = "config name (oxford_pets), dataset name (OxfordPets) or all"

    p = commands.add_parser("download", help="fetch archives and split files, unpack them, apply CoOp's renames")
    p.add_argument("names", nargs="+", metavar="NAME", help=names_help)
    p.add_argument("--root", required=True, help="DATASET.ROOT: the folder holding one folder per dataset")
    p.add_argument("--keep-archives", action="store_true", help="keep archives after unpacking them")
    p.set_defaults(run=_run_download)

    p = commands.add_parser("check", help="find missing, unreadable or miscounted images; exit 1 on problems")
    p.add_argument("names", nargs="+", metavar="NAME", help=names_help)
    p.add_argument("--root", required=True, help="DATASET.ROOT")
    p.add_argument(
        "--skip-sizes", action="store_true", help="do not compare split sizes with CoOp's (e.g. for fixtures)"
    )
    p.add_argument("--no-decode", action="store_true", help="only check that images exist (much faster)")
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="threads that read images")
    p.set_defaults(run=_run_check)

    val_dir = default_val_dir("<root>")
    p = commands.add_parser("fold-imagenet-val", help="move ImageNet's flat val images into <wnid>/ folders")
    p.add_argument("--root", required=True, help=f"DATASET.ROOT (the images are in {val_dir})")
    p.add_argument(
        "--labels", required=True, help="Kaggle's LOC_val_solution.csv, or a text file of '<image file> <wnid>' lines"
    )
    p.add_argument("--val-dir", default="", help=f"the flat val folder, if not {val_dir}")
    p.set_defaults(run=_run_fold)

    p = commands.add_parser("list", help="the datasets, their folders and CoOp's split sizes")
    p.set_defaults(run=_run_list)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one subcommand; bad names or files are a one-line error and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "root", None):
        args.root = osp.abspath(osp.expanduser(args.root))
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
