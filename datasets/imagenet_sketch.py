from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class ImageNetSketch(common.ImageNetVariantDataset):
    """ImageNet-Sketch (test only): 1000 classes in ``images/<wnid>/`` (the archive's ``sketch/``, renamed)."""

    catalogue_name = "imagenet_sketch"  # its folder: runtime/catalogue
    image_folder = "images"
