import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY

from . import common

SPLIT_FILES = {"train": "images_variant_train.txt", "val": "images_variant_val.txt", "test": "images_variant_test.txt"}


@DATASET_REGISTRY.register()
class FGVCAircraft(common.CoOpDataset):
    """FGVC-Aircraft 2013b (its ``data/`` folder): 100 variants, official train/val/test lists.

    CoOp has no split file for it: ``variants.txt`` (label = line index, file order) and the
    three ``images_variant_*.txt`` lists are read every time. Variant names are kept verbatim,
    spaces and slashes included (``F/A-18``).
    """

    catalogue_name = "fgvc_aircraft"  # folder and split file: runtime/catalogue
    image_folder = "images"
    raw_files = ("variants.txt",) + tuple(SPLIT_FILES.values())

    @classmethod
    def read_raw_entries(cls, dataset_dir, image_dir):
        with open(osp.join(dataset_dir, "variants.txt"), "r") as f:
            label_of = {line.strip(): label for label, line in enumerate(f)}
        entries = {}
        for split, list_file in SPLIT_FILES.items():
            entries[split] = []
            with open(osp.join(dataset_dir, list_file), "r") as f:
                for line in f:
                    # "<7-digit image id> <variant name, which may contain spaces>"
                    image_id, variant = line.strip().split(" ", 1)
                    if variant not in label_of:
                        raise ValueError(f"FGVCAircraft: variant {variant!r} in {list_file} is not in variants.txt")
                    entries[split].append((osp.join(image_dir, image_id + ".jpg"), label_of[variant], variant))
        return entries
