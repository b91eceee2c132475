"""dassl.data: Datum pickles, transforms, samplers, the data loaders and DataManager's summary."""
import pickle
import pytest
import torch
from PIL import Image
from torch.utils.data import RandomSampler, SequentialSampler
from torchvision import transforms as T

from dassl.data import DataManager, DatasetWrapper, build_data_loader
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
from dassl.data.samplers import build_sampler
from dassl.data.transforms import INTERPOLATION_MODES, build_transform
from dassl_tiny import CLASSNAMES, tiny_cfg, write_images


@DATASET_REGISTRY.register()
class TinyNoVal(DatasetBase):
    """Two train images (fewer than a batch) and no val split."""

    def __init__(self, cfg):
        items = [Datum(impath=p, label=y, classname=CLASSNAMES[y]) for p, y in write_images(cfg.DATASET.ROOT)]
        super().__init__(train_x=items[:2], test=items)


@pytest.fixture
def cfg(tmp_path):
    return tiny_cfg(str(tmp_path / "images"), str(tmp_path / "out"))


def test_fewshot_cache_pickle_keeps_dassls_class_path_and_attributes(tmp_path):
    [(path, label)] = write_images(str(tmp_path), per_class=1)[:1]
    cache = tmp_path / "shot_1-seed_1.pkl"
    data = {"train": [Datum(impath=path, label=label, domain=2, classname="red")], "val": []}
    with open(cache, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)  # as the CoOp datasets write it

    raw = cache.read_bytes()
    assert b"dassl.data.datasets.base_dataset" in raw and b"Datum" in raw
    for attribute in (b"_impath", b"_label", b"_domain", b"_classname"):
        assert attribute in raw

    with open(cache, "rb") as f:
        item = pickle.load(f)["train"][0]
    assert type(item) is Datum
    assert (item.impath, item.label, item.domain, item.classname) == (path, label, 2, "red")


def test_coop_train_transform(cfg, capsys):
    cfg.INPUT.SIZE = (224, 224)
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    cfg.INPUT.PIXEL_MEAN = [0.5, 0.5, 0.5]
    cfg.INPUT.PIXEL_STD = [0.25, 0.25, 0.25]
    tfm = build_transform(cfg, is_train=True)
    assert capsys.readouterr().out.splitlines() == [
        "Building transform_train",
        "+ random resized crop (size=(224, 224), scale=(0.08, 1.0))",
        "+ random flip",
        "+ to torch tensor of range [0, 1]",
        "+ normalization (mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])",
    ]
    crop, flip, to_tensor, normalize = tfm.transforms
    assert isinstance(crop, T.RandomResizedCrop) and crop.interpolation == INTERPOLATION_MODES["bicubic"]
    assert isinstance(flip, T.RandomHorizontalFlip) and isinstance(to_tensor, T.ToTensor)
    assert isinstance(normalize, T.Normalize)
    assert tfm(Image.new("RGB", (300, 250))).shape == (3, 224, 224)


def test_test_transform_resizes_and_center_crops(cfg, capsys):
    cfg.INPUT.SIZE = (32, 32)
    cfg.INPUT.TRANSFORMS = ("random_flip", "center_crop")
    tfm = build_transform(cfg, is_train=False)
    assert capsys.readouterr().out.splitlines() == [
        "Building transform_test",
        "+ resize the smaller edge to 32",
        "+ 32x32 center crop",
        "+ to torch tensor of range [0, 1]",
    ]
    assert tfm(Image.new("RGB", (64, 40))).shape == (3, 32, 32)


def test_torchvision_based_choices_run_in_dassls_order(cfg, capsys):
    cfg.INPUT.SIZE = (16, 16)
    cfg.INPUT.TRANSFORMS = (
        "instance_norm", "gaussian_noise", "cutout", "gaussian_blur", "randomgrayscale", "colorjitter",
        "random_crop", "random_translation",
    )  # fmt: skip
    cfg.INPUT.GB_K = 3
    tfm = build_transform(cfg, is_train=True)
    steps = [line.split(" (")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert steps == [
        "+ random translation", "+ random crop", "+ color jitter", "+ random gray scale", "+ gaussian blur",
        "+ to torch tensor of range [0, 1]", "+ cutout", "+ gaussian noise", "+ instance normalization",
    ]  # fmt: skip
    out = tfm(Image.new("RGB", (20, 20), (10, 200, 30)))
    assert out.shape == (3, 16, 16) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "choice,message",
    [
        ("randaugment", 'INPUT.TRANSFORMS "randaugment" is an AutoAugment/RandAugment policy'),
        ("imagenet_policy", "imagenet_policy"),
        ("random_flp", 'Unknown INPUT.TRANSFORMS entry "random_flp"; did you mean "random_flip"?'),
    ],
)
def test_unsupported_transforms_are_rejected(cfg, choice, message):
    cfg.INPUT.TRANSFORMS = (choice,)
    with pytest.raises(ValueError, match=message):
        build_transform(cfg)


def test_no_transform(cfg, capsys):
    cfg.INPUT.NO_TRANSFORM = True
    assert build_transform(cfg) is None
    assert capsys.readouterr().out == "Note: no transform is applied!\n"


def test_samplers():
    data = list(range(5))
    assert isinstance(build_sampler("RandomSampler", data_source=data), RandomSampler)
    assert list(build_sampler("SequentialSampler", data_source=data)) == data
    with pytest.raises(ValueError, match="RandomDomainSampler.*not include"):
        build_sampler("RandomDomainSampler", data_source=data)
    with pytest.raises(ValueError, match='Unknown sampler "Foo"'):
        build_sampler("Foo", data_source=data)


def test_data_manager_summary_and_loaders(cfg, capsys):
    dm = DataManager(cfg)
    out = capsys.readouterr().out
    assert out.startswith("Loading dataset: TinyImages\nBuilding transform_train\n")
    assert out.endswith(
        "---------  ----------\n"
        "Dataset    TinyImages\n"
        "# classes  3\n"
        "# train_x  12\n"
        "# val      3\n"
        "# test     12\n"
        "---------  ----------\n"
    )
    assert (dm.num_classes, dm.num_source_domains, dm.lab2cname) == (3, 0, dict(enumerate(CLASSNAMES)))
    assert dm.train_loader_u is None
    assert isinstance(dm.test_loader.sampler, SequentialSampler)
    assert len(dm.train_loader_x) == 3 and len(dm.val_loader) == 1 and len(dm.test_loader) == 3

    batch = next(iter(dm.train_loader_x))
    assert batch["img"].shape == (4, 3, 8, 8) and batch["img"].dtype == torch.float32
    for key in ("label", "domain", "index"):
        assert batch[key].dtype == torch.int64
    assert isinstance(batch["impath"], list) and isinstance(batch["impath"][0], str)


def test_split_smaller_than_a_batch_still_gives_one_batch(cfg):
    cfg.DATASET.NAME = "TinyNoVal"
    dm = DataManager(cfg)
    assert dm.val_loader is None
    assert len(dm.train_loader_x) == 1 and next(iter(dm.train_loader_x))["img"].shape[0] == 2


def test_empty_split_is_a_clear_error(cfg):
    with pytest.raises(ValueError, match="empty split"):
        build_data_loader(cfg, data_source=[], batch_size=4)


def test_dataset_wrapper_views(cfg):
    data = build_dataset(cfg).train_x
    cfg.DATALOADER.K_TRANSFORMS = 2
    cfg.DATALOADER.RETURN_IMG0 = True
    flip = T.Compose([T.RandomHorizontalFlip(), T.ToTensor()])
    item = DatasetWrapper(cfg, data, transform=[flip, T.ToTensor()], is_train=True)[5]
    assert (item["label"], item["index"], item["impath"]) == (data[5].label, 5, data[5].impath)
    assert isinstance(item["img"], list) and len(item["img"]) == 2  # K views of the first transform
    assert len(item["img2"]) == 2 and item["img0"].shape == (3, 8, 8)

    test_item = DatasetWrapper(cfg, data, transform=None, is_train=False)[0]
    assert isinstance(test_item["img"], Image.Image) and test_item["img"].mode == "RGB"
    with pytest.raises(ValueError, match="K_TRANSFORMS is 2"):
        DatasetWrapper(cfg, data, transform=None, is_train=True)


def test_unknown_dataset_names_the_closest(cfg):
    cfg.DATASET.NAME = "TinyImage"
    with pytest.raises(ValueError, match=r'Unknown dataset "TinyImage" \(DATASET.NAME\); did you mean "TinyImages"\?'):
        build_dataset(cfg)
