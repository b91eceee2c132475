"""A dataset of your own images with no code: an ImageFolder tree or a CSV, set up in a YAML.

On first use the images are split at random per class (seeded by ``DATASET.CUSTOM.SPLIT_SEED``)
and the split is written as a CoOp split file; from then on it is read like the benchmark
datasets' split files, and few-shot sampling and base/new classes work as for them.
See ``configs/datasets/custom.yaml``.
"""
import csv
import os.path as osp
import random
import re
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils import listdir_nohidden
from yacs.config import CfgNode as CN

from . import common

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
CSV_HEADER_FIRST_CELLS = ("path", "impath", "image", "file", "filename")
CONFIG_HELP = "see configs/datasets/custom.yaml"


def add_config(cfg) -> None:
    """Add the ``DATASET.CUSTOM`` node that configures ``CustomDataset``."""
    custom = CN()
    # Dataset folder, absolute or relative to DATASET.ROOT. The split file and the few-shot
    # caches (split_fewshot/) are written into it.
    custom.DATASET_DIR = ""
    # Image folder, absolute or relative to DATASET_DIR. Without CSV it is read as an ImageFolder
    # tree, <IMAGE_DIR>/<class name>/<image>: the sorted folder names are the classes.
    custom.IMAGE_DIR = "images"
    # Optional CSV file (absolute or relative to DATASET_DIR) that lists the images instead, one
    # per row: "path,label" (integer labels, named by CLASSNAMES) or "path,classname", with paths
    # relative to IMAGE_DIR. An optional third column "train", "val" or "test" fixes each image's
    # split (then no random split is made). A first row whose first cell is "path" is a header.
    custom.CSV = ""
    # Text file (absolute or relative to DATASET_DIR), one class name per line, line i naming
    # label i. Needed when the CSV has integer labels.
    custom.CLASSNAMES = ""
    # Split file, relative to DATASET_DIR, written on first use and read afterwards; "" means
    # split_zhou_<name of DATASET_DIR>.json. Delete it after changing the images or the keys below.
    custom.SPLIT_FILE = ""
    # Fractions of each class's images put in train and in val; test gets the rest, which must be
    # more than 0. Every non-empty part gets at least one image of every class.
    custom.TRAIN_FRACTION = 0.5
    custom.VAL_FRACTION = 0.2
    # Seed of the random split. It is independent of SEED, so all runs share one split.
    custom.SPLIT_SEED = 1
    cfg.DATASET.CUSTOM = custom


@DATASET_REGISTRY.register()
class CustomDataset(common.CoOpDataset):
    """Your own images, configured by ``DATASET.CUSTOM.*``."""

    def __init__(self, cfg):
        self.custom_cfg = cfg.DATASET.CUSTOM
        super().__init__(cfg)

    def locate(self, root, cfg):
        custom = cfg.DATASET.CUSTOM
        if not custom.DATASET_DIR:
            raise ValueError(
                f"CustomDataset: DATASET.CUSTOM.DATASET_DIR is empty; set it to your dataset folder ({CONFIG_HELP})"
            )
        dataset_dir = osp.join(root, osp.expanduser(custom.DATASET_DIR))
        split_file = custom.SPLIT_FILE or f"split_zhou_{osp.basename(osp.normpath(dataset_dir))}.json"
        return dataset_dir, osp.join(dataset_dir, osp.expanduser(custom.IMAGE_DIR)), osp.join(dataset_dir, split_file)

    def missing_hint(self):
        return f"check DATASET.ROOT and DATASET.CUSTOM.DATASET_DIR / IMAGE_DIR / CSV ({CONFIG_HELP})"

    def read_raw_splits(self):
        custom = self.custom_cfg
        p_train, p_val = float(custom.TRAIN_FRACTION), float(custom.VAL_FRACTION)
        if not (0 < p_train and 0 <= p_val and p_train + p_val < 1):
            raise ValueError(
                "CustomDataset: DATASET.CUSTOM.TRAIN_FRACTION must be > 0, VAL_FRACTION >= 0 and their sum < 1 "
                f"(test gets the rest), got {p_train} and {p_val}"
            )
        if custom.CSV:
            impaths_by_class, fixed_splits = self.read_csv(osp.join(self.dataset_dir, osp.expanduser(custom.CSV)))
            if fixed_splits is not None:
                return fixed_splits
        else:
            impaths_by_class = self.read_image_folders()
        return split_at_random(impaths_by_class, p_train, p_val, random.Random(custom.SPLIT_SEED))

    def read_image_folders(self):
        """(label, class name) -> image paths of an ImageFolder tree; labels by sorted folder name."""
        folders = sorted(f for f in listdir_nohidden(self.image_dir) if osp.isdir(osp.join(self.image_dir, f)))
        if not folders:
            raise ValueError(
                f"CustomDataset: {self.image_dir} has no class folders (<class>/<image>); {self.missing_hint()}"
            )
        impaths_by_class = OrderedDict()
        for label, folder in enumerate(folders):
            folder_path = osp.join(self.image_dir, folder)
            impaths_by_class[(label, folder)] = [
                osp.join(folder_path, name)
                for name in listdir_nohidden(folder_path, sort=True)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            ]
        return impaths_by_class

    def read_csv(self, csv_path):
        """(label, class name) -> image paths, plus the splits if the CSV fixes them (else None)."""
        self.require(csv_path, "CSV file")
        with open(csv_path, "r", newline="") as f:
            rows = [
                [cell.strip() for cell in row] for row in csv.reader(f) if row and any(cell.strip() for cell in row)
            ]
        if rows and rows[0][0].lower() in CSV_HEADER_FIRST_CELLS:
            rows = rows[1:]
        if not rows or any(len(row) not in (2, 3) for row in rows):
            raise ValueError(
                f"CustomDataset: {csv_path} must have rows 'path,label' or 'path,classname' (optionally ',split')"
            )

        impaths = [osp.join(self.image_dir, row[0]) for row in rows]
        missing = [impath for impath in impaths if not osp.isfile(impath)]
        if missing:
            raise common.DatasetFileNotFoundError(
                f"CustomDataset: {len(missing)} images listed in {csv_path} do not exist (first: {missing[0]}); "
                "CSV paths are relative to DATASET.CUSTOM.IMAGE_DIR"
            )
        label_and_name = self.label_rows([row[1] for row in rows], csv_path)

        impaths_by_class = OrderedDict((key, []) for key in sorted(set(label_and_name)))
        for impath, key in zip(impaths, label_and_name):
            impaths_by_class[key].append(impath)

        split_column = [row[2].lower() for row in rows if len(row) == 3]
        if not split_column:
            return impaths_by_class, None
        if len(split_column) != len(rows) or not set(split_column) <= set(common.SPLIT_NAMES):
            raise ValueError(f"CustomDataset: the third column of {csv_path} must be train, val or test on every row")
        splits = {name: [] for name in common.SPLIT_NAMES}
        for impath, (label, classname), split in zip(impaths, label_and_name, split_column):
            splits[split].append(Datum(impath=impath, label=label, classname=classname))
        return impaths_by_class, (splits["train"], splits["val"], splits["test"])

    def label_rows(self, cells, csv_path):
        """(label, class name) per CSV row: integer labels named by CLASSNAMES, or names labelled in sorted order."""
        if all(re.fullmatch(r"\d+", cell) for cell in cells):
            if not self.custom_cfg.CLASSNAMES:
                raise ValueError(
                    f"CustomDataset: {csv_path} has integer labels; set DATASET.CUSTOM.CLASSNAMES "
                    f"to a file naming them ({CONFIG_HELP})"
                )
            names_path = osp.join(self.dataset_dir, osp.expanduser(self.custom_cfg.CLASSNAMES))
            self.require(names_path, "class-name file")
            with open(names_path, "r") as f:
                names = [line.strip() for line in f if line.strip()]
            too_large = [int(cell) for cell in cells if int(cell) >= len(names)]
            if too_large:
                raise ValueError(
                    f"CustomDataset: label {too_large[0]} in {csv_path} has no line in {names_path} "
                    f"({len(names)} names)"
                )
            return [(int(cell), names[int(cell)]) for cell in cells]
        label_of = {name: label for label, name in enumerate(sorted(set(cells)))}
        return [(label_of[cell], cell) for cell in cells]


def split_at_random(impaths_by_class, p_train, p_val, rng):
    """Shuffle each class's (sorted) images with ``rng`` and cut them into train / val / test."""
    p_test = 1 - p_train - p_val
    train, val, test = [], [], []
    for (label, classname), impaths in impaths_by_class.items():
        impaths = sorted(impaths)
        rng.shuffle(impaths)
        n_total = len(impaths)
        n_val = max(1, round(n_total * p_val)) if p_val > 0 else 0
        n_test = max(1, round(n_total * p_test))
        n_train = n_total - n_val - n_test
        if n_train < 1:
            raise ValueError(
                f"CustomDataset: class {classname!r} has {n_total} images; it needs at least {n_val + n_test + 1} "
                "(one per split), or set DATASET.CUSTOM.CSV with a split column"
            )
        common.add_cut(impaths, n_train, n_val, label, classname, (train, val, test))
    return train, val, test
