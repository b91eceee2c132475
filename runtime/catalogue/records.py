"""The record of every dataset, in the order the published tables list them: the 11 benchmark
datasets, then the 4 ImageNet variants (test only). Sizes and class counts are CoOp's
statistics (images per split as CoOp's datasets load them); templates are the hand-written
zero-shot prompts of CoOp's ``ZeroshotCLIP``.
"""
from . import DatasetRecord, Move, Remove, Source, Unpack, classnames_source, split_file_source

SPLIT_FILE_MANUAL = "Without the split file, a new random split is made, so results will not match CoOp's."

RECORDS = (
    DatasetRecord(
        name="imagenet",
        dataset_name="ImageNet",
        display_name="ImageNet",
        dataset_dir="imagenet",
        num_classes=1000,
        sizes={"train": 1281167, "test": 50000},
        template="a photo of a {}.",
        sources=(
            classnames_source(),
        ),
        required=("classnames.txt", "images/train", "images/val"),
        manual=(
            "ImageNet needs an account at image-net.org, so its images cannot be fetched for you:\n"
            "  1. Download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from https://image-net.org/download-images\n"
            '     (or the Kaggle competition "imagenet-object-localization-challenge", which also has LOC_val_solution.csv).\n'
            "  2. mkdir -p {dir}/images/train {dir}/images/val\n"
            "     tar -xf ILSVRC2012_img_train.tar -C {dir}/images/train\n"
            '     cd {dir}/images/train && for f in *.tar; do mkdir "${{f%.tar}}" && tar -xf "$f" -C "${{f%.tar}}" && rm "$f"; done\n'
            "     tar -xf ILSVRC2012_img_val.tar -C {dir}/images/val\n"
            "  3. The val images arrive in one flat folder; sort them into wnid folders:\n"
            "     python -m toolkit.data fold-imagenet-val --root {root} --labels LOC_val_solution.csv\n"
            "  Have ImageNet already? Link its class folders instead: ln -s /path/to/train {dir}/images/train (same for val)."
        ),
    ),
    DatasetRecord(
        name="caltech101",
        dataset_name="Caltech101",
        display_name="Caltech101",
        dataset_dir="caltech-101",
        num_classes=100,
        sizes={"train": 4128, "val": 1649, "test": 2465},
        template="a photo of a {}.",
        sources=(
            Source(
                "caltech-101.zip",
                "101_ObjectCategories",
                urls=("https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",),
                md5="3138e1922a9193bfa496528edbbc45d0",
                extract=True,
            ),
            Source(
                "101_ObjectCategories.tar.gz",
                "101_ObjectCategories",
                urls=("http://www.vision.caltech.edu/Image_Datasets/Caltech101/101_ObjectCategories.tar.gz",),
                extract=True,
            ),
            split_file_source("Caltech101", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),
        ),
        required=("101_ObjectCategories", "split_zhou_Caltech101.json"),
        manual=(
            "Get 101_ObjectCategories.tar.gz from https://data.caltech.edu/records/mzrjq-6wc02 (inside caltech-101.zip)\n"
            "  and unpack it in {dir}; get split_zhou_Caltech101.json from\n"
            "  https://drive.google.com/file/d/1hyarUivQE36mY6jSomru6Fjd-JzwcCzN into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Unpack("caltech-101/101_ObjectCategories.tar.gz"), Remove("caltech-101")),
    ),
    DatasetRecord(
        name="oxford_pets",
        dataset_name="OxfordPets",
        display_name="OxfordPets",
        dataset_dir="oxford_pets",
        num_classes=37,
        sizes={"train": 2944, "val": 736, "test": 3669},
        template="a photo of a {}, a type of pet.",
        sources=(
            Source(
                "images.tar.gz",
                "images",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",),
                md5="5c4f3ee8e5d25df40f4fd59a7f44e54c",
                extract=True,
            ),
            Source(
                "annotations.tar.gz",
                "annotations",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",),
                md5="95a8c909bbe2e81eed6a22bccdf3f68f",
                extract=True,
                optional=True,
            ),
            split_file_source("OxfordPets", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
        ),
        required=("images", "split_zhou_OxfordPets.json"),
        manual=(
            "Get images.tar.gz and annotations.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/ and unpack\n"
            "  them in {dir}; get split_zhou_OxfordPets.json from https://drive.google.com/file/d/1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs\n"
            "  into {dir}. "
        ) + SPLIT_FILE_MANUAL,
    ),
    DatasetRecord(
        name="stanford_cars",
        dataset_name="StanfordCars",
        display_name="StanfordCars",
        dataset_dir="stanford_cars",
        num_classes=196,
        sizes={"train": 6509, "val": 1635, "test": 8041},
        template="a photo of a {}.",
        sources=(
            Source(
                "cars_train.tgz",
                "cars_train",
                urls=("http://ai.stanford.edu/~jkrause/car196/cars_train.tgz",),
                extract=True,
            ),
            Source(
                "cars_test.tgz",
                "cars_test",
                urls=("http://ai.stanford.edu/~jkrause/car196/cars_test.tgz",),
                extract=True,
            ),
            Source(
                "car_devkit.tgz",
                "devkit",
                urls=("https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz", "https://github.com/pytorch/vision/files/11644847/car_devkit.tgz"),
                extract=True,
                optional=True,
            ),
            Source(
                "cars_test_annos_withlabels.mat",
                "cars_test_annos_withlabels.mat",
                urls=("http://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",),
                optional=True,
            ),
            split_file_source("StanfordCars", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),
        ),
        required=("cars_train", "cars_test", "split_zhou_StanfordCars.json"),
        manual=(
            "The Stanford Cars server has been offline since 2023. Get the images elsewhere, e.g. the Kaggle dataset\n"
            '  "jessicali9530/stanford-cars-dataset", and put them so that they read {dir}/cars_train/00001.jpg and\n'
            "  {dir}/cars_test/00001.jpg (rerun this command to flatten doubled folders such as cars_train/cars_train).\n"
            "  The devkit is mirrored at https://github.com/pytorch/vision/files/11644847/car_devkit.tgz. Get\n"
            "  split_zhou_StanfordCars.json from https://drive.google.com/file/d/1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Move("cars_train/cars_train", "cars_train"), Move("cars_test/cars_test", "cars_test")),
    ),
    DatasetRecord(
        name="oxford_flowers",
        dataset_name="OxfordFlowers",
        display_name="Flowers102",
        dataset_dir="oxford_flowers",
        num_classes=102,
        sizes={"train": 4093, "val": 1633, "test": 2463},
        template="a photo of a {}, a type of flower.",
        sources=(
            Source(
                "102flowers.tgz",
                "jpg",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",),
                md5="52808999861908f626f3c1f4e79d11fa",
                extract=True,
            ),
            Source(
                "imagelabels.mat",
                "imagelabels.mat",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",),
                md5="e0620be6f572b9609742df49c70aed4d",
                optional=True,
            ),
            Source(
                "cat_to_name.json",
                "cat_to_name.json",
                drive_id="1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0",
                optional=True,
            ),
            split_file_source("OxfordFlowers", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
        ),
        required=("jpg", "split_zhou_OxfordFlowers.json"),
        manual=(
            "Get 102flowers.tgz and imagelabels.mat from https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ and unpack\n"
            "  the images in {dir} (they go to jpg/); get cat_to_name.json\n"
            "  (https://drive.google.com/file/d/1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0) and split_zhou_OxfordFlowers.json\n"
            "  (https://drive.google.com/file/d/1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT) into {dir}. "
        ) + SPLIT_FILE_MANUAL,
    ),
    DatasetRecord(
        name="food101",
        dataset_name="Food101",
        display_name="Food101",
        dataset_dir="food-101",
        num_classes=101,
        sizes={"train": 50500, "val": 20200, "test": 30300},
        template="a photo of {}, a type of food.",
        sources=(
            Source(
                "food-101.tar.gz",
                "images",
                urls=("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",),
                md5="85eeb15f3717b99a5da872d97d918f87",
                extract=True,
            ),
            split_file_source("Food101", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
        ),
        required=("images", "split_zhou_Food101.json"),
        manual=(
            "Get food-101.tar.gz from https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/ and unpack it in {root}\n"
            "  (it makes food-101/); get split_zhou_Food101.json from\n"
            "  https://drive.google.com/file/d/1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Move("food-101", "."),),
    ),
    DatasetRecord(
        name="fgvc_aircraft",
        dataset_name="FGVCAircraft",
        display_name="FGVCAircraft",
        dataset_dir="fgvc_aircraft",
        num_classes=100,
        sizes={"train": 3334, "val": 3333, "test": 3333},
        template="a photo of a {}, a type of aircraft.",
        sources=(
            Source(
                "fgvc-aircraft-2013b.tar.gz",
                "images",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
                extract=True,
            ),
        ),
        required=("images", "variants.txt", "images_variant_train.txt", "images_variant_val.txt", "images_variant_test.txt"),
        manual=(
            "Get fgvc-aircraft-2013b.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/, unpack it and\n"
            "  rename its data/ folder to {dir} (or put the archive in {dir} and rerun this command)."
        ),
        fixes=(Move("fgvc-aircraft-2013b/data", "."), Remove("fgvc-aircraft-2013b")),
    ),
    DatasetRecord(
        name="sun397",
        dataset_name="SUN397",
        display_name="SUN397",
        dataset_dir="sun397",
        num_classes=397,
        sizes={"train": 15880, "val": 3970, "test": 19850},
        template="a photo of a {}.",
        sources=(
            Source(
                "SUN397.tar.gz",
                "SUN397",
                urls=("http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",),
                md5="8ca2778205c41d23104230ba66911c7a",
                extract=True,
            ),
            Source(
                "Partitions.zip",
                "Training_01.txt",
                urls=("https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip",),
                extract=True,
                optional=True,
            ),
            split_file_source("SUN397", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),
        ),
        required=("SUN397", "split_zhou_SUN397.json"),
        manual=(
            "vision.princeton.edu is often unreachable. Get SUN397.tar.gz (and Partitions.zip) from it or a mirror and put\n"
            "  them in {dir}, then rerun this command to unpack them; get split_zhou_SUN397.json from\n"
            "  https://drive.google.com/file/d/1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Move("Partitions", "."),),
    ),
    DatasetRecord(
        name="dtd",
        dataset_name="DescribableTextures",
        display_name="DTD",
        dataset_dir="dtd",
        num_classes=47,
        sizes={"train": 2820, "val": 1128, "test": 1692},
        template="{} texture.",
        sources=(
            Source(
                "dtd-r1.0.1.tar.gz",
                "images",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
                md5="fff73e5086ae6bdbea199a49dfb8a4c1",
                extract=True,
            ),
            split_file_source("DescribableTextures", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
        ),
        required=("images", "split_zhou_DescribableTextures.json"),
        manual=(
            "Get dtd-r1.0.1.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/dtd/ and unpack it in {root}\n"
            "  (it makes dtd/); get split_zhou_DescribableTextures.json from\n"
            "  https://drive.google.com/file/d/1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Move("dtd", "."),),
    ),
    DatasetRecord(
        name="eurosat",
        dataset_name="EuroSAT",
        display_name="EuroSAT",
        dataset_dir="eurosat",
        num_classes=10,
        sizes={"train": 13500, "val": 5400, "test": 8100},
        template="a centered satellite photo of {}.",
        sources=(
            Source(
                "EuroSAT.zip",
                "2750",
                urls=("https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",),
                md5="c8fa014336c82ac7804f0398fcb19387",
                extract=True,
            ),
            Source(
                "EuroSAT.zip",
                "2750",
                urls=("http://madm.dfki.de/files/sentinel/EuroSAT.zip",),
                extract=True,
            ),
            split_file_source("EuroSAT", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
        ),
        required=("2750", "split_zhou_EuroSAT.json"),
        manual=(
            "Get EuroSAT.zip (RGB) from http://madm.dfki.de/files/sentinel/EuroSAT.zip or the Zenodo record 7711810 and\n"
            "  unpack it in {dir} so that {dir}/2750/AnnualCrop/ exists; get split_zhou_EuroSAT.json from\n"
            "  https://drive.google.com/file/d/1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o into {dir}. "
        ) + SPLIT_FILE_MANUAL,
    ),
    DatasetRecord(
        name="ucf101",
        dataset_name="UCF101",
        display_name="UCF101",
        dataset_dir="ucf101",
        num_classes=101,
        sizes={"train": 7639, "val": 1898, "test": 3783},
        template="a photo of a person doing {}.",
        sources=(
            Source(
                "UCF-101-midframes.zip",
                "UCF-101-midframes",
                drive_id="10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O",
                extract=True,
            ),
            split_file_source("UCF101", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
        ),
        required=("UCF-101-midframes", "split_zhou_UCF101.json"),
        manual=(
            "Get UCF-101-midframes.zip from https://drive.google.com/file/d/10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O and unpack\n"
            "  it in {dir}; get split_zhou_UCF101.json from https://drive.google.com/file/d/1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y\n"
            "  into {dir}. "
        ) + SPLIT_FILE_MANUAL,
        fixes=(Remove("__MACOSX"),),
    ),
    DatasetRecord(
        name="imagenetv2",
        dataset_name="ImageNetV2",
        display_name="ImageNet-V2",
        dataset_dir="imagenetv2",
        num_classes=1000,
        sizes={"test": 10000},
        template="a photo of a {}.",
        role="imagenet_variant",
        sources=(
            Source(
                "imagenetv2-matched-frequency.tar.gz",
                "imagenetv2-matched-frequency-format-val",
                urls=("https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz", "https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz"),
                extract=True,
            ),
            classnames_source(),
        ),
        required=("imagenetv2-matched-frequency-format-val", "classnames.txt"),
        manual=(
            "Get imagenetv2-matched-frequency.tar.gz from https://huggingface.co/datasets/vaishaal/ImageNetV2 and unpack\n"
            "  it in {dir}; copy ImageNet's classnames.txt into {dir}."
        ),
    ),
    DatasetRecord(
        name="imagenet_sketch",
        dataset_name="ImageNetSketch",
        display_name="ImageNet-Sketch",
        dataset_dir="imagenet-sketch",
        num_classes=1000,
        sizes={"test": 50889},
        template="a photo of a {}.",
        role="imagenet_variant",
        sources=(
            Source(
                "ImageNet-Sketch.zip",
                "images",
                urls=("https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",),
                drive_id="1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA",
                extract=True,
            ),
            classnames_source(),
        ),
        required=("images", "classnames.txt"),
        manual=(
            "Get ImageNet-Sketch.zip as described at https://github.com/HaohanWang/ImageNet-Sketch, unpack it in {dir}\n"
            "  and rename its sketch/ folder to images/ (or put the zip in {dir} and rerun this command); copy ImageNet's\n"
            "  classnames.txt into {dir}."
        ),
        fixes=(Move("sketch", "images"),),
    ),
    DatasetRecord(
        name="imagenet_a",
        dataset_name="ImageNetA",
        display_name="ImageNet-A",
        dataset_dir="imagenet-adversarial",
        num_classes=200,
        sizes={"test": 7500},
        template="a photo of a {}.",
        role="imagenet_variant",
        sources=(
            Source(
                "imagenet-a.tar",
                "imagenet-a",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                md5="c3e55429088dc681f30d81f4726b6595",
                extract=True,
            ),
            classnames_source(),
        ),
        required=("imagenet-a", "classnames.txt"),
        manual=(
            "Get imagenet-a.tar as described at https://github.com/hendrycks/natural-adv-examples and unpack it in {dir};\n"
            "  copy ImageNet's classnames.txt into {dir}."
        ),
    ),
    DatasetRecord(
        name="imagenet_r",
        dataset_name="ImageNetR",
        display_name="ImageNet-R",
        dataset_dir="imagenet-rendition",
        num_classes=200,
        sizes={"test": 30000},
        template="a photo of a {}.",
        role="imagenet_variant",
        sources=(
            Source(
                "imagenet-r.tar",
                "imagenet-r",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",),
                md5="a61312130a589d0ca1a8fca1f2bd3337",
                extract=True,
            ),
            classnames_source(),
        ),
        required=("imagenet-r", "classnames.txt"),
        manual=(
            "Get imagenet-r.tar as described at https://github.com/hendrycks/imagenet-r and unpack it in {dir};\n"
            "  copy ImageNet's classnames.txt into {dir}."
        ),
    ),
)
