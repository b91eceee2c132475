import contextlib
import os
import os.path as osp
import pickle

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase
from dassl.utils import listdir_nohidden, mkdir_if_missing

from . import common, fewshot


@DATASET_REGISTRY.register()
class ImageNet(common.CatalogueFacts, DatasetBase):
    """ImageNet-1k: ``images/train/<wnid>/`` and ``images/val/<wnid>/``, names from ``classnames.txt``.

    The val set is the test set (and the val split), as is standard. The folder scan is cached in
    ``preprocessed.pkl`` ({"train", "test"} lists of Datum); once it exists the folders are not
    listed again. Few-shot caches hold the train split only.
    """

    catalogue_name = "imagenet"  # its folder: runtime/catalogue
    image_folder = "images"

    # CoOp's helper lives on this class; the ImageNet variants' files call it from here.
    read_classnames = staticmethod(common.read_classnames)

    def __init__(self, cfg):
        self.root = common.dataset_root(cfg)
        self.dataset_dir = osp.join(self.root, type(self).dataset_dir)
        self.image_dir = osp.join(self.dataset_dir, self.image_folder)
        self.preprocessed = osp.join(self.dataset_dir, "preprocessed.pkl")
        self.split_fewshot_dir = osp.join(self.dataset_dir, "split_fewshot")
        common.require_path(self.dataset_dir, "dataset folder", "ImageNet", common.download_hint("ImageNet", self.root))
        with contextlib.suppress(OSError):  # a read-only dataset folder may still hold the caches
            mkdir_if_missing(self.split_fewshot_dir)

        if osp.exists(self.preprocessed):
            train, test = self.load_preprocessed(self.preprocessed)
        else:
            entries = self.scan_folders(self.root)
            train, test = common.to_datums(entries["train"]), common.to_datums(entries["test"])
            with open(self.preprocessed, "wb") as f:
                pickle.dump({"train": train, "test": test}, f, protocol=pickle.HIGHEST_PROTOCOL)

        train, _ = fewshot.load_or_create_fewshot(self, self.split_fewshot_dir, cfg.DATASET.NUM_SHOTS, cfg.SEED, train,
                                                 test=test, splits_name=self.preprocessed)
        train, test = common.subsample_classes(train, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=test, test=test)

    @classmethod
    def expected_images(cls, root):
        """The images each split lists, without opening them (used by ``toolkit.data check``)."""
        preprocessed = osp.join(root, cls.dataset_dir, "preprocessed.pkl")
        if osp.exists(preprocessed):
            train, test = cls.load_preprocessed(preprocessed)
            return {"train": common.to_entries(train), "test": common.to_entries(test)}
        return cls.scan_folders(root)

    @staticmethod
    def load_preprocessed(path):
        """(train, test) from ``preprocessed.pkl``, refusing a cache that cannot be right."""
        with open(path, "rb") as f:
            preprocessed = pickle.load(f)
        train, test = preprocessed["train"], preprocessed["test"]
        if not test:
            raise ValueError(
                f"ImageNet: {path} has no test images (made before images/val had class folders); delete it"
            )
        for split in (train, test):
            if split and not osp.isfile(split[0].impath):
                raise common.DatasetFileNotFoundError(
                    f"ImageNet: {path} lists images that do not exist (first: {split[0].impath}), "
                    "e.g. because the dataset moved; delete it to scan the folders again"
                )
        return train, test

    @classmethod
    def scan_folders(cls, root):
        """Entries of ``images/train`` (train) and ``images/val`` (test), labels by sorted wnid."""
        dataset_dir = osp.join(root, cls.dataset_dir)
        hint = common.download_hint("ImageNet", root)
        classnames_file = osp.join(dataset_dir, "classnames.txt")
        common.require_path(classnames_file, "class-name file", "ImageNet", hint)
        classnames = common.read_classnames(classnames_file)

        entries, wnids = {}, {}
        for split, folder in (("train", "train"), ("test", "val")):
            split_dir = osp.join(dataset_dir, cls.image_folder, folder)
            common.require_path(split_dir, "image folder", "ImageNet", hint)
            wnids[split] = sorted(
                entry.name for entry in os.scandir(split_dir) if entry.is_dir() and not entry.name.startswith(".")
            )
            if not wnids[split]:
                loose = len(listdir_nohidden(split_dir))
                fix = (
                    'move them into wnid folders with "python -m toolkit.data fold-imagenet-val '
                    f'--root {root} --labels LOC_val_solution.csv"'
                    if folder == "val"
                    else "extract each class archive into its own wnid folder"
                )
                raise common.DatasetFileNotFoundError(
                    f"ImageNet: {split_dir} has {loose} loose files and no <wnid> class folders; {fix}"
                )
            entries[split] = []
            for label, wnid in enumerate(wnids[split]):
                if wnid not in classnames:
                    raise ValueError(f"ImageNet: folder {osp.join(split_dir, wnid)} is not named in {classnames_file}")
                folder_path = osp.join(split_dir, wnid)
                entries[split].extend(
                    (osp.join(folder_path, name), label, classnames[wnid])
                    for name in listdir_nohidden(folder_path, sort=True)
                )
        if wnids["train"] != wnids["test"]:
            only_train = sorted(set(wnids["train"]) - set(wnids["test"]))
            only_val = sorted(set(wnids["test"]) - set(wnids["train"]))
            raise ValueError(
                f"ImageNet: images/train and images/val must hold the same wnid folders, or labels differ "
                f"(only in train: {only_train[:3]}{'...' if len(only_train) > 3 else ''}, "
                f"only in val: {only_val[:3]}{'...' if len(only_val) > 3 else ''})"
            )
        return entries
