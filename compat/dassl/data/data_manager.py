"""``DataManager``: builds the dataset, its transforms and the train/val/test data loaders."""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader, Dataset
from yacs.config import CfgNode

from dassl.utils import distributed, read_image

from .datasets import build_dataset
from .datasets.base_dataset import Datum
from .samplers import build_sampler
from .transforms import INTERPOLATION_MODES, build_transform


def build_data_loader(
    cfg: CfgNode,
    sampler_type: str = "SequentialSampler",
    data_source: Optional[Sequence[Datum]] = None,
    batch_size: int = 64,
    n_domain: int = 0,
    n_ins: int = 2,
    tfm: Optional[Callable] = None,
    is_train: bool = True,
    dataset_wrapper: Optional[type] = None,
) -> DataLoader:
    """A plain ``DataLoader`` over ``DatasetWrapper``.

    Training drops the last incomplete batch only when the split holds at least one full batch,
    so a few-shot split smaller than the batch size still gives one batch per epoch.
    """
    if not data_source:
        raise ValueError(
            "Cannot build a data loader for an empty split; check DATASET.ROOT and the dataset's "
            "split files (and DATASET.NUM_SHOTS / SUBSAMPLE_CLASSES)"
        )
    sampler = build_sampler(
        sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size, n_domain=n_domain, n_ins=n_ins
    )
    wrapper_class = dataset_wrapper or DatasetWrapper
    dataset = wrapper_class(cfg, data_source, transform=tfm, is_train=is_train)
    drop_last = is_train and len(data_source) >= batch_size
    pin_memory = torch.cuda.is_available() and cfg.USE_CUDA
    if is_train and distributed.world_size() > 1:  # torchrun: this process's shard of each global batch
        batch_sampler = distributed.ShardedBatchSampler(sampler, batch_size, drop_last)
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=cfg.DATALOADER.NUM_WORKERS, pin_memory=pin_memory)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )


def format_two_column_table(rows: List[Tuple[str, str]]) -> str:
    """Rows between dashed rules, left-aligned columns two spaces apart (tabulate's "simple")."""
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    rule = "  ".join("-" * width for width in widths)
    lines = [f"{name:<{widths[0]}}  {value:<{widths[1]}}".rstrip() for name, value in rows]
    return "\n".join([rule, *lines, rule])


class DataManager:
    """The dataset named by ``DATASET.NAME`` and its loaders.

    ``train_loader_u`` and ``val_loader`` are None when the dataset has no such split.
    """

    def __init__(
        self,
        cfg: CfgNode,
        custom_tfm_train: Optional[Callable] = None,
        custom_tfm_test: Optional[Callable] = None,
        dataset_wrapper: Optional[type] = None,
    ):
        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loader_cfg = cfg.DATALOADER

        def train_loader(data_source: Sequence[Datum], node: CfgNode) -> DataLoader:
            return build_data_loader(
                cfg,
                sampler_type=node.SAMPLER,
                data_source=data_source,
                batch_size=node.BATCH_SIZE,
                n_domain=node.N_DOMAIN,
                n_ins=node.N_INS,
                tfm=tfm_train,
                is_train=True,
                dataset_wrapper=dataset_wrapper,
            )

        def test_loader(data_source: Sequence[Datum]) -> DataLoader:
            return build_data_loader(
                cfg,
                sampler_type=loader_cfg.TEST.SAMPLER,
                data_source=data_source,
                batch_size=loader_cfg.TEST.BATCH_SIZE,
                tfm=tfm_test,
                is_train=False,
                dataset_wrapper=dataset_wrapper,
            )

        self.train_loader_x = train_loader(dataset.train_x, loader_cfg.TRAIN_X)
        self.train_loader_u = None
        if dataset.train_u:
            u_node = loader_cfg.TRAIN_X if loader_cfg.TRAIN_U.SAME_AS_X else loader_cfg.TRAIN_U
            self.train_loader_u = train_loader(dataset.train_u, u_node)
        self.val_loader = test_loader(dataset.val) if dataset.val else None
        self.test_loader = test_loader(dataset.test)

        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_source_domains(self) -> int:
        return self._num_source_domains

    @property
    def lab2cname(self) -> Dict[int, str]:
        return self._lab2cname

    def show_dataset_summary(self, cfg: CfgNode) -> None:
        """Print the split sizes as Dassl does (a two-column table)."""
        rows = [("Dataset", cfg.DATASET.NAME)]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(("Source", str(cfg.DATASET.SOURCE_DOMAINS)))
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(("Target", str(cfg.DATASET.TARGET_DOMAINS)))
        rows.append(("# classes", f"{self.num_classes:,}"))
        rows.append(("# train_x", f"{len(self.dataset.train_x):,}"))
        if self.dataset.train_u:
            rows.append(("# train_u", f"{len(self.dataset.train_u):,}"))
        if self.dataset.val:
            rows.append(("# val", f"{len(self.dataset.val):,}"))
        rows.append(("# test", f"{len(self.dataset.test):,}"))
        print(format_two_column_table(rows))


class DatasetWrapper(Dataset):
    """Reads and transforms one ``Datum``; items are dicts with ``img``, ``label``, ``domain``,
    ``impath`` and ``index`` (plus ``img2``... for a list of transforms and ``img0`` with
    ``DATALOADER.RETURN_IMG0``)."""

    def __init__(self, cfg: CfgNode, data_source: Sequence[Datum], transform: Any = None, is_train: bool = False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform  # one transform, or a list/tuple of them
        self.is_train = is_train
        # Several augmented views of one image only make sense for training.
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(
                f"DATALOADER.K_TRANSFORMS is {self.k_tfm} but there is no transform to apply; "
                "set INPUT.TRANSFORMS or K_TRANSFORMS 1"
            )

        # img0: the image with no augmentation, for RETURN_IMG0.
        to_tensor = [T.Resize(cfg.INPUT.SIZE, interpolation=INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]), T.ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            to_tensor.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(to_tensor)

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath)

        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)

        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm: Callable, img0: Any) -> Any:
        """One view, or a list of ``K_TRANSFORMS`` views."""
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
