"""What every CoOp-format dataset shares: split files, raw-split helpers, the few-shot cache,
base/new class subsampling and the one-line "not found" errors.

Dataset files hold only what is specific to one dataset (folder names, how its raw annotation
files are read, how its class names are cleaned). The helpers here reproduce CoOp's behaviour,
including its use of Python's global ``random`` in the same order, so splits and few-shot samples
match CoOp's for the same seed, and the files they write can be read by CoOp and vice versa.
"""
import contextlib
import hashlib
import math
import os
import os.path as osp
import random
import time
from collections import OrderedDict, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from dassl.data.datasets import Datum, DatasetBase
from dassl.utils import listdir_nohidden, mkdir_if_missing, read_json, write_json
from runtime import catalogue

from . import fewshot

# Beside a split file made from the raw files where CoOp's published one was missing: its checksum.
MADE_HERE_SUFFIX = ".generated"

# One image of a split before it becomes a Datum: (absolute image path, label, class name).
Entry = Tuple[str, int, str]
SPLIT_NAMES = ("train", "val", "test")
SUBSAMPLE_CHOICES = ("all", "base", "new")


class DatasetFileNotFoundError(FileNotFoundError):
    """A dataset folder or file is missing. The message is one line: the path and how to get it."""


def dataset_root(cfg) -> str:
    """``DATASET.ROOT`` as CoOp resolves it (``~`` expanded, made absolute)."""
    return osp.abspath(osp.expanduser(cfg.DATASET.ROOT))


def download_hint(dataset_name: str, root: str) -> str:
    return f'get it with "python -m toolkit.data download {dataset_name} --root {root}"'


def require_path(path: str, what: str, dataset_name: str, hint: str) -> None:
    """Raise a one-line ``DatasetFileNotFoundError`` unless ``path`` exists."""
    if not osp.exists(path):
        raise DatasetFileNotFoundError(f"{dataset_name}: {what} not found: {path}; {hint}")


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def to_datums(entries: Iterable[Entry]) -> List[Datum]:
    return [Datum(impath=impath, label=label, classname=classname) for impath, label, classname in entries]


def to_entries(items: Iterable[Datum]) -> List[Entry]:
    return [(item.impath, item.label, item.classname) for item in items]


def read_classnames(text_file: str) -> "OrderedDict[str, str]":
    """``classnames.txt`` of the ImageNet family: lines ``<wnid> <class name>``, in file order.

    The first token is the folder name; the rest, re-joined with spaces, is the class name.
    """
    classnames = OrderedDict()
    with open(text_file, "r") as f:
        for line in f:
            tokens = line.strip().split(" ")
            classnames[tokens[0]] = " ".join(tokens[1:])
    return classnames


# ---------------------------------------------------------------------------------------------
# Split files: split_zhou_<Name>.json = {"train"|"val"|"test": [[relative path, label, classname]]}
# ---------------------------------------------------------------------------------------------


def read_split_entries(filepath: str, path_prefix: str) -> Dict[str, List[Entry]]:
    """The three splits of a CoOp split file, with paths joined onto ``path_prefix``."""
    split = read_json(filepath)
    missing_keys = [name for name in SPLIT_NAMES if name not in split]
    if missing_keys:
        raise ValueError(f"split file {filepath} has no {', '.join(missing_keys)} list; re-download it")
    return {
        name: [(osp.join(path_prefix, impath), int(label), classname) for impath, label, classname in split[name]]
        for name in SPLIT_NAMES
    }


def read_split(filepath: str, path_prefix: str) -> Tuple[List[Datum], List[Datum], List[Datum]]:
    """Read a CoOp split file into (train, val, test) lists of Datum.

    Every listed image must exist (Dassl's Datum asserts it); the error names how many are
    missing and the first one, instead of failing on the first.
    """
    print(f"Reading split from {filepath}")
    entries = read_split_entries(filepath, path_prefix)
    missing = [impath for name in SPLIT_NAMES for impath, _, _ in entries[name] if not osp.isfile(impath)]
    if missing:
        total = sum(len(entries[name]) for name in SPLIT_NAMES)
        raise DatasetFileNotFoundError(
            f"{len(missing)} of {total} images listed in {filepath} do not exist (first: {missing[0]}); "
            'check DATASET.ROOT, or list them all with "python -m toolkit.data check"'
        )
    train, val, test = (to_datums(entries[name]) for name in SPLIT_NAMES)
    return train, val, test


def save_split(
    train: Sequence[Datum], val: Sequence[Datum], test: Sequence[Datum], filepath: str, path_prefix: str
) -> None:
    """Write (train, val, test) as a CoOp split file, paths relative to ``path_prefix``."""

    def relative(items):
        return [
            [osp.relpath(item.impath, path_prefix).replace(os.sep, "/"), item.label, item.classname] for item in items
        ]

    write_json({"train": relative(train), "val": relative(val), "test": relative(test)}, filepath)
    print(f"Saved split to {filepath}")


# ---------------------------------------------------------------------------------------------
# Raw splits, used only when a dataset's split file is absent. They draw from the global
# ``random`` in CoOp's order (class by class), so a fixed SEED gives CoOp's split.
# ---------------------------------------------------------------------------------------------


def split_trainval(trainval: Sequence[Datum], p_val: float = 0.2) -> Tuple[List[Datum], List[Datum]]:
    """Carve ``round(p_val * n)`` random images of each class out of trainval as val.

    Classes are visited in order of first appearance; the output is grouped the same way.
    """
    print(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    indices_by_label = defaultdict(list)
    for index, item in enumerate(trainval):
        indices_by_label[item.label].append(index)

    train, val = [], []
    for label, indices in indices_by_label.items():
        n_val = round(len(indices) * p_val)
        if n_val < 1:
            raise ValueError(
                f"class {trainval[indices[0]].classname!r} has {len(indices)} trainval images; "
                f"a {p_val:.0%} val split needs at least {math.ceil(0.5 / p_val)}"
            )
        random.shuffle(indices)
        for position, index in enumerate(indices):
            (val if position < n_val else train).append(trainval[index])
    return train, val


def split_per_class(
    impaths_by_class: "OrderedDict[Tuple[int, str], List[str]]", p_trn: float, p_val: float
) -> Tuple[List[Datum], List[Datum], List[Datum]]:
    """Shuffle each class's images and cut them into train / val / test by the given fractions.

    ``impaths_by_class`` maps (label, classname) to image paths, in the order classes are
    visited (which is also the order in which ``random`` is drawn from).
    """
    train, val, test = [], [], []
    for (label, classname), impaths in impaths_by_class.items():
        impaths = list(impaths)
        random.shuffle(impaths)
        n_total = len(impaths)
        n_train = round(n_total * p_trn)
        n_val = round(n_total * p_val)
        if n_train < 1 or n_val < 1 or n_total - n_train - n_val < 1:
            raise ValueError(
                f"class {classname!r} has {n_total} images, too few for a {p_trn:.0%}/{p_val:.0%}/"
                f"{1 - p_trn - p_val:.0%} split (every part needs one image; 4 images per class suffice)"
            )
        add_cut(impaths, n_train, n_val, label, classname, (train, val, test))
    return train, val, test


def add_cut(impaths: Sequence[str], n_train: int, n_val: int, label: int, classname: str,
            splits: Tuple[List[Datum], List[Datum], List[Datum]]) -> None:
    """Append the first ``n_train`` images to train, the next ``n_val`` to val, the rest to test."""
    train, val, test = splits
    for part, chosen in (
        (train, impaths[:n_train]),
        (val, impaths[n_train : n_train + n_val]),
        (test, impaths[n_train + n_val :]),
    ):
        part.extend(Datum(impath=impath, label=label, classname=classname) for impath in chosen)


def read_and_split_data(
    image_dir: str,
    p_trn: float = 0.5,
    p_val: float = 0.2,
    ignored: Sequence[str] = (),
    new_cnames: Optional[Dict[str, str]] = None,
) -> Tuple[List[Datum], List[Datum], List[Datum]]:
    """Random per-class train/val/test split of an ``<image_dir>/<class>/<image>`` tree.

    Labels follow the case-sensitive sort of the class folders (uppercase first). ``new_cnames``
    renames classes; image paths keep the original folder names.
    """
    print(f"Splitting into {p_trn:.0%} train, {p_val:.0%} val, and {1 - p_trn - p_val:.0%} test")
    folders = sorted(folder for folder in listdir_nohidden(image_dir) if folder not in ignored)
    new_cnames = new_cnames or {}
    impaths_by_class = OrderedDict()
    for label, folder in enumerate(folders):
        folder_path = osp.join(image_dir, folder)
        # Sorted so that a seed gives the same split on every file system.
        impaths = [osp.join(folder_path, name) for name in listdir_nohidden(folder_path, sort=True)]
        impaths_by_class[(label, new_cnames.get(folder, folder))] = impaths
    return split_per_class(impaths_by_class, p_trn, p_val)


# ---------------------------------------------------------------------------------------------
# Base/new classes (the few-shot cache is in datasets/fewshot.py)
# ---------------------------------------------------------------------------------------------


def subsample_classes(*splits: Sequence[Datum], subsample: str = "all") -> List[List[Datum]]:
    """Keep the base (first ceil(n/2)) or new (remaining) classes of every split, relabelled from 0.

    The classes are the sorted labels present in the first split (train, after few-shot).
    """
    if subsample not in SUBSAMPLE_CHOICES:
        raise ValueError(f"DATASET.SUBSAMPLE_CLASSES must be one of {', '.join(SUBSAMPLE_CHOICES)}, got {subsample!r}")
    if subsample == "all":
        return list(splits)

    labels = sorted({item.label for item in splits[0]})
    m = math.ceil(len(labels) / 2)
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabel = {label: new_label for new_label, label in enumerate(selected)}
    return [
        [
            Datum(impath=item.impath, label=relabel[item.label], domain=item.domain, classname=item.classname)
            for item in split
            if item.label in relabel
        ]
        for split in splits
    ]


# ---------------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------------


class CatalogueFacts:
    """A dataset class with a ``catalogue_name`` takes its folder (``dataset_dir``) and CoOp split
    file (``split_file``) from its record in ``runtime.catalogue``, the one place they are written."""

    catalogue_name = ""  # the dataset's config name, e.g. "oxford_pets"
    dataset_dir = ""  # folder under DATASET.ROOT
    split_file = ""  # CoOp's split file inside dataset_dir, "" when the dataset has none

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("catalogue_name"):
            record = catalogue.record(cls.catalogue_name)
            cls.dataset_dir, cls.split_file = record.dataset_dir, record.split_file


class CoOpDataset(CatalogueFacts, DatasetBase):
    """CoOp's pipeline for the 11 benchmark datasets: full splits -> few-shot -> base/new.

    Full splits come from ``split_file`` when it exists. Otherwise they are built from the raw
    files (``read_raw_splits``) and written to ``split_file``, as CoOp does, but said: a warning
    in the log and the run record, then and in every later run that reads that split (a sidecar
    ``<split_file>.generated`` holds its checksum), since results on it will not match CoOp's.
    A dataset without a split file (FGVCAircraft) implements ``read_raw_entries`` instead and
    reads its raw files every time.
    """

    image_folder = ""  # image folder inside dataset_dir; split-file paths are relative to it
    raw_files: Tuple[str, ...] = ()  # files inside dataset_dir that the raw fallback reads

    def __init__(self, cfg):
        self.root = dataset_root(cfg)
        self.dataset_dir, self.image_dir, self.split_path = self.locate(self.root, cfg)
        self.split_fewshot_dir = osp.join(self.dataset_dir, "split_fewshot")
        self.require(self.dataset_dir, "dataset folder")
        self.require(self.image_dir, "image folder")
        with contextlib.suppress(OSError):  # as CoOp; a read-only dataset folder may still hold the caches
            mkdir_if_missing(self.split_fewshot_dir)

        self.data_warnings = []
        train, val, test = self.read_full_splits()
        train, val = fewshot.load_or_create_fewshot(self, self.split_fewshot_dir, cfg.DATASET.NUM_SHOTS, cfg.SEED,
                                                    train, val, test, splits_name=self.splits_name())
        train, val, test = subsample_classes(train, val, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=val, test=test)

    @classmethod
    def locate(cls, root: str, cfg=None) -> Tuple[str, str, str]:
        """(dataset folder, image folder, split file or "") under ``root``."""
        dataset_dir = osp.join(root, cls.dataset_dir)
        split_path = osp.join(dataset_dir, cls.split_file) if cls.split_file else ""
        return dataset_dir, osp.normpath(osp.join(dataset_dir, cls.image_folder)), split_path

    def require(self, path: str, what: str) -> None:
        require_path(path, what, type(self).__name__, self.missing_hint())

    def missing_hint(self) -> str:
        """How to get a missing file; the custom dataset points at its config keys instead."""
        return download_hint(type(self).__name__, self.root)

    def splits_name(self) -> str:
        """The full splits as messages name them: the split file, or the raw files."""
        return self.split_path or f"{type(self).__name__}'s raw files"

    def read_full_splits(self) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        if self.split_path and osp.exists(self.split_path):
            self.warn_if_made_here()
            return read_split(self.split_path, self.image_dir)
        what = f"split file {self.split_path} missing and raw file" if self.split_path else "raw file"
        for raw_file in self.raw_files:
            self.require(osp.join(self.dataset_dir, raw_file), what)
        train, val, test = self.read_raw_splits()
        if self.split_path:
            save_split(train, val, test, self.split_path, self.image_dir)
            if self.catalogue_name:  # a published split exists (the custom dataset has none)
                write_json({"sha256": file_sha256(self.split_path), "made": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
                           self.split_path + MADE_HERE_SUFFIX)
                self.warn_if_made_here()
        return train, val, test

    def warn_if_made_here(self) -> None:
        """Say, once per run, that the split file was made here and is not CoOp's published one."""
        marker = self.split_path + MADE_HERE_SUFFIX
        if not osp.exists(marker) or read_json(marker).get("sha256") != file_sha256(self.split_path):
            return
        warning = (
            f"{self.split_path} is a random split made here from the raw files ({read_json(marker).get('made')}), "
            f"not CoOp's published one, so results will not match CoOp's; for CoOp's split, delete it (and the few-shot "
            f"caches drawn from it) and {download_hint(type(self).__name__, self.root)}"
        )
        print(f"Warning: {warning}")
        self.data_warnings.append(warning)

    def read_raw_splits(self) -> Tuple[List[Datum], List[Datum], List[Datum]]:
        """(train, val, test) built from the raw files, used when there is no split file."""
        entries = self.read_raw_entries(self.dataset_dir, self.image_dir)
        train, val, test = (to_datums(entries[name]) for name in SPLIT_NAMES)
        return train, val, test

    @classmethod
    def read_raw_entries(cls, dataset_dir: str, image_dir: str) -> Dict[str, List[Entry]]:
        """Entries per split from raw files that fix the splits (no randomness involved)."""
        raise NotImplementedError(f"{cls.__name__} builds its splits in read_raw_splits")

    @classmethod
    def expected_images(cls, root: str) -> Dict[str, List[Entry]]:
        """The images each split lists, without opening them (used by ``toolkit.data check``)."""
        dataset_dir, image_dir, split_path = cls.locate(root)
        hint = download_hint(cls.__name__, root)
        if not split_path:
            for raw_file in cls.raw_files:
                require_path(osp.join(dataset_dir, raw_file), "raw file", cls.__name__, hint)
            return cls.read_raw_entries(dataset_dir, image_dir)
        hint += " (without it a new random split is made, so results will not match CoOp's)"
        require_path(split_path, "split file", cls.__name__, hint)
        return read_split_entries(split_path, image_dir)


class ImageNetVariantDataset(CatalogueFacts, DatasetBase):
    """A test-only ImageNet variant: images in ``<image_folder>/<class folder>/``, class names
    from the variant's own copy of ImageNet's ``classnames.txt``.

    ``NUM_SHOTS``, ``SEED`` and ``SUBSAMPLE_CLASSES`` are ignored; the data is passed as train_x
    too, so ``classnames`` lists the variant's classes (200 for A and R).
    """

    image_folder = ""
    ignored_entries: Tuple[str, ...] = ()  # names in image_folder that are not class folders

    def __init__(self, cfg):
        self.root = dataset_root(cfg)
        self.dataset_dir = osp.join(self.root, type(self).dataset_dir)
        self.image_dir = osp.join(self.dataset_dir, self.image_folder)
        data = to_datums(self.expected_images(self.root)["test"])
        super().__init__(train_x=data, test=data)

    @classmethod
    def expected_images(cls, root: str) -> Dict[str, List[Entry]]:
        """{"test": entries} of the variant's folders (also used by ``toolkit.data check``)."""
        dataset_dir = osp.join(root, cls.dataset_dir)
        image_dir = osp.join(dataset_dir, cls.image_folder)
        classnames_file = osp.join(dataset_dir, "classnames.txt")
        hint = download_hint(cls.__name__, root)
        require_path(dataset_dir, "dataset folder", cls.__name__, hint)
        require_path(image_dir, "image folder", cls.__name__, hint)
        require_path(classnames_file, "class-name file (a copy of ImageNet's classnames.txt)", cls.__name__, hint)
        return {"test": cls.read_entries(image_dir, read_classnames(classnames_file))}

    @classmethod
    def read_entries(cls, image_dir: str, classnames: "OrderedDict[str, str]") -> List[Entry]:
        """Sorted wnid folders, labelled 0, 1, ... in that order."""
        folders = [f for f in listdir_nohidden(image_dir, sort=True) if f not in cls.ignored_entries]
        entries = []
        for label, folder in enumerate(folders):
            if folder not in classnames:
                raise ValueError(
                    f"{cls.__name__}: {osp.join(image_dir, folder)} is not a class folder named in classnames.txt"
                )
            folder_path = osp.join(image_dir, folder)
            entries.extend(
                (osp.join(folder_path, name), label, classnames[folder])
                for name in listdir_nohidden(folder_path, sort=True)
            )
        return entries
