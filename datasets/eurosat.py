from dassl.data.datasets import DATASET_REGISTRY

from . import common

# Every class gets a descriptive name; paths keep the CamelCase folders.
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(common.CoOpDataset):
    """EuroSAT (RGB): 10 land-use classes in ``2750/<Class>/<Class>_<n>.jpg``.

    CoOp's split is its own random 50/20/30 of the 27,000 images, which is also the raw fallback.
    """

    catalogue_name = "eurosat"  # folder and split file: runtime/catalogue
    image_folder = "2750"

    def read_raw_splits(self):
        return common.read_and_split_data(self.image_dir, new_cnames=NEW_CNAMES)
