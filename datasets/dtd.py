from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class DescribableTextures(common.CoOpDataset):
    """DTD: 47 textures in ``images/<class>/<class>_NNNN.jpg``; labels follow the sorted folders.

    Raw fallback: a random 50/20/30 split of the image folders (``imdb/`` and ``labels/`` are unused).
    """

    catalogue_name = "dtd"  # folder and split file: runtime/catalogue
    image_folder = "images"

    # CoOp's helper lives on this class; users' own dataset files call it from here.
    read_and_split_data = staticmethod(common.read_and_split_data)

    def read_raw_splits(self):
        return common.read_and_split_data(self.image_dir)
