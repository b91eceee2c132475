from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class Food101(common.CoOpDataset):
    """Food-101: ``images/<class>/<id>.jpg``; class names are the folder names (``apple_pie``).

    CoOp's split is its own random 50/20/30 (not the official 750/250), which is also the raw
    fallback; the official ``meta/`` folder is unused.
    """

    catalogue_name = "food101"  # folder and split file: runtime/catalogue
    image_folder = "images"

    def read_raw_splits(self):
        return common.read_and_split_data(self.image_dir)
