import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY, Datum

from . import common


@DATASET_REGISTRY.register()
class SUN397(common.CoOpDataset):
    """SUN397: 397 scenes in ``SUN397/<letter>/<category>[/<sub>]/sun_<hash>.jpg``.

    Raw fallback: partition 01 (``ClassName.txt``, ``Training_01.txt``, ``Testing_01.txt``); val
    is a 20% per-class carve-out of Training_01.
    """

    catalogue_name = "sun397"  # folder and split file: runtime/catalogue
    image_folder = "SUN397"
    raw_files = ("ClassName.txt", "Training_01.txt", "Testing_01.txt")

    def read_raw_splits(self):
        with open(osp.join(self.dataset_dir, "ClassName.txt"), "r") as f:
            label_of = {line.strip()[1:]: label for label, line in enumerate(f)}  # "/a/abbey" -> "a/abbey"
        trainval = self.read_list("Training_01.txt", label_of)
        test = self.read_list("Testing_01.txt", label_of)
        train, val = common.split_trainval(trainval)
        return train, val, test

    def read_list(self, list_file, label_of):
        items = []
        with open(osp.join(self.dataset_dir, list_file), "r") as f:
            for line in f:
                relpath = line.strip()[1:]  # "/a/abbey/sun_x.jpg" -> "a/abbey/sun_x.jpg"
                category = osp.dirname(relpath)
                impath = osp.join(self.image_dir, relpath)
                items.append(Datum(impath=impath, label=label_of[category], classname=scene_name(category)))
        return items


def scene_name(category):
    """Drop the letter folder, qualifiers first: "a/apartment_building/outdoor" -> "outdoor apartment_building"."""
    return " ".join(category.split("/")[1:][::-1])
