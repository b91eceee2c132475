from dassl.data.datasets import DATASET_REGISTRY

from . import common

IGNORED_FOLDERS = ["BACKGROUND_Google", "Faces_easy"]
NEW_CNAMES = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}


@DATASET_REGISTRY.register()
class Caltech101(common.CoOpDataset):
    """Caltech101: 100 classes (two folders ignored) in ``101_ObjectCategories/<folder>/``.

    Labels follow the case-sensitive folder sort (``Faces``, ``Leopards``, ``Motorbikes`` first);
    four classes are renamed while their paths keep the original folder. Other names, typos
    included (``water_lilly``), are kept. Raw fallback: a random 50/20/30 split per class.
    """

    catalogue_name = "caltech101"  # folder and split file: runtime/catalogue
    image_folder = "101_ObjectCategories"

    def read_raw_splits(self):
        return common.read_and_split_data(self.image_dir, ignored=IGNORED_FOLDERS, new_cnames=NEW_CNAMES)
