from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class ImageNetR(common.ImageNetVariantDataset):
    """ImageNet-R (test only): 200 classes (not A's 200) in ``imagenet-r/<wnid>/``, labelled 0..199 by sorted wnid."""

    catalogue_name = "imagenet_r"  # its folder: runtime/catalogue
    image_folder = "imagenet-r"
    ignored_entries = ("README.txt",)  # shipped inside the archive's image folder
