import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY, Datum

from . import common


@DATASET_REGISTRY.register()
class OxfordPets(common.CoOpDataset):
    """Oxford-IIIT Pets: 37 breeds, flat ``images/<Breed>_<n>.jpg`` (cat breeds capitalised).

    Raw fallback: ``annotations/{trainval,test}.txt``; val is a 20% per-class carve-out of trainval.
    """

    catalogue_name = "oxford_pets"  # folder and split file: runtime/catalogue
    image_folder = "images"
    raw_files = ("annotations/trainval.txt", "annotations/test.txt")

    # CoOp's helpers live on this class; users' own dataset files call them from here.
    read_split = staticmethod(common.read_split)
    save_split = staticmethod(common.save_split)
    split_trainval = staticmethod(common.split_trainval)
    subsample_classes = staticmethod(common.subsample_classes)

    def read_raw_splits(self):
        trainval = self.read_annotations("trainval.txt")
        test = self.read_annotations("test.txt")
        train, val = common.split_trainval(trainval)
        return train, val, test

    def read_annotations(self, list_file):
        """Lines ``<image stem> <class id 1..37> <species> <breed id>``; the breed, lowercased, names the class."""
        items = []
        with open(osp.join(self.dataset_dir, "annotations", list_file), "r") as f:
            for line in f:
                stem, class_id, _species, _breed_id = line.strip().split(" ")
                breed = "_".join(stem.split("_")[:-1]).lower()
                impath = osp.join(self.image_dir, stem + ".jpg")
                items.append(Datum(impath=impath, label=int(class_id) - 1, classname=breed))
        return items
