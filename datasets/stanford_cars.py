import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY, Datum
from scipy.io import loadmat

from . import common


@DATASET_REGISTRY.register()
class StanfordCars(common.CoOpDataset):
    """Stanford Cars: 196 models; train and val from ``cars_train/``, test from ``cars_test/``.

    Quirk: split-file paths are relative to the dataset folder itself and carry the image
    folder (``"cars_train/00001.jpg"``), hence the empty ``image_folder``.
    Raw fallback: the devkit's .mat files; val is a 20% per-class carve-out of train.
    """

    catalogue_name = "stanford_cars"  # folder and split file: runtime/catalogue
    image_folder = ""
    raw_files = ("devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat", "devkit/cars_meta.mat")

    def read_raw_splits(self):
        meta_file = osp.join(self.dataset_dir, "devkit", "cars_meta.mat")
        trainval = self.read_annotations(
            "cars_train", osp.join(self.dataset_dir, "devkit", "cars_train_annos.mat"), meta_file
        )
        test = self.read_annotations(
            "cars_test", osp.join(self.dataset_dir, "cars_test_annos_withlabels.mat"), meta_file
        )
        train, val = common.split_trainval(trainval)
        return train, val, test

    def read_annotations(self, image_folder, anno_file, meta_file):
        """The ``annotations`` struct array (``fname``, 1-based ``class``) named by ``class_names``."""
        annotations = loadmat(anno_file)["annotations"][0]
        class_names = loadmat(meta_file)["class_names"][0]
        items = []
        for annotation in annotations:
            label = int(annotation["class"][0, 0]) - 1
            impath = osp.join(self.dataset_dir, image_folder, annotation["fname"][0])
            items.append(Datum(impath=impath, label=label, classname=year_first(class_names[label][0])))
        return items


def year_first(name):
    """Move the trailing year to the front: "AM General Hummer SUV 2000" -> "2000 AM General Hummer SUV"."""
    words = name.split(" ")
    return " ".join([words[-1]] + words[:-1])
