import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import listdir_nohidden

from . import common

NUM_CLASSES = 1000


@DATASET_REGISTRY.register()
class ImageNetV2(common.ImageNetVariantDataset):
    """ImageNetV2 matched-frequency (test only): ``<label>/<hash>.jpeg`` for labels 0..999.

    The folder number is the ImageNet label; the class name is line ``label`` of ``classnames.txt``.
    All 1000 folders must exist (they may be empty).
    """

    catalogue_name = "imagenetv2"  # its folder: runtime/catalogue
    image_folder = "imagenetv2-matched-frequency-format-val"

    @classmethod
    def read_entries(cls, image_dir, classnames):
        names_by_label = list(classnames.values())
        if len(names_by_label) < NUM_CLASSES:
            raise ValueError(
                f"ImageNetV2: classnames.txt has {len(names_by_label)} lines, needs {NUM_CLASSES} (ImageNet's file)"
            )
        entries = []
        for label in range(NUM_CLASSES):
            folder_path = osp.join(image_dir, str(label))
            common.require_path(
                folder_path,
                "class folder",
                "ImageNetV2",
                "the archive has one folder per label 0..999; extract it again",
            )
            entries.extend(
                (osp.join(folder_path, name), label, names_by_label[label])
                for name in listdir_nohidden(folder_path, sort=True)
            )
        return entries
