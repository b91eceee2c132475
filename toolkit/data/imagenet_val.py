"""ImageNet val re-foldering: ILSVRC2012_img_val.tar unpacks into one flat folder, while the
dataset class (like CoOp's) reads ``<wnid>/`` folders; a label list sorts the images into them.

Where the val folder lives is the ImageNet record's business (its folder and required paths).
"""
import csv
import os
import os.path as osp
import re
from typing import Dict, List, Tuple

from runtime.catalogue import DatasetRecord, record

from .progress import Progress

WNID = re.compile(r"n\d{8}")
PREPROCESSED = "preprocessed.pkl"  # the ImageNet class's cache of its folder scan, in the ImageNet folder


def val_folder(imagenet: DatasetRecord) -> str:
    """The val image folder inside the ImageNet folder, as the record requires it."""
    return next(path for path in imagenet.required if osp.basename(path) == "val")


def default_val_dir(root: str) -> str:
    """``<root>/<ImageNet folder>/<val folder>``."""
    imagenet = record("imagenet")
    return osp.join(root, imagenet.dataset_dir, val_folder(imagenet))


def preprocessed_file(val_dir: str) -> str:
    """The ``preprocessed.pkl`` of the ImageNet folder that holds ``val_dir``."""
    folder = osp.normpath(val_dir)
    for _ in osp.normpath(val_folder(record("imagenet"))).split(os.sep):
        folder = osp.dirname(folder)
    return osp.join(folder, PREPROCESSED)


def read_val_labels(labels_file: str) -> Dict[str, str]:
    """Image stem -> wnid, from Kaggle's LOC_val_solution.csv or lines ``<image file> <wnid>``."""
    mapping = {}
    with open(labels_file, "r", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("ImageId,"):
            for row in csv.DictReader(f):
                mapping[row["ImageId"]] = row["PredictionString"].split()[0]
        else:
            for line in f:
                tokens = line.replace(",", " ").split()
                if len(tokens) >= 2:
                    mapping[osp.splitext(osp.basename(tokens[0]))[0]] = tokens[1]
    bad = [wnid for wnid in mapping.values() if not WNID.fullmatch(wnid)]
    if not mapping or bad:
        raise ValueError(
            f"{labels_file} is neither Kaggle's LOC_val_solution.csv nor lines '<image file> <wnid>'"
            + (f" (bad wnid {bad[0]!r})" if bad else "")
        )
    return mapping


def fold_imagenet_val(val_dir: str, labels_file: str) -> Tuple[int, List[str]]:
    """Move the loose images of ``val_dir`` into ``<wnid>/`` folders; returns (moved, names without a label)."""
    if not osp.isdir(val_dir):
        raise FileNotFoundError(f"ImageNet val folder not found: {val_dir}; extract ILSVRC2012_img_val.tar there first")
    wnid_of = read_val_labels(labels_file)
    loose = sorted(
        name for name in os.listdir(val_dir) if not name.startswith(".") and osp.isfile(osp.join(val_dir, name))
    )
    progress = Progress("moving val images", len(loose), unit="images")
    moved, unlabelled = 0, []
    for name in loose:
        wnid = wnid_of.get(osp.splitext(name)[0])
        if wnid is None:
            unlabelled.append(name)
            continue
        os.makedirs(osp.join(val_dir, wnid), exist_ok=True)
        os.rename(osp.join(val_dir, name), osp.join(val_dir, wnid, name))
        moved += 1
        progress.update(moved)
    progress.update(moved, final=True)
    return moved, unlabelled
