"""``build_transform``: Dassl's train/test pipelines from ``INPUT.TRANSFORMS``.

Steps run in Dassl's fixed order whatever the order of the list, and print the same
"+ ..." lines. The random draws come from the same generators as in Dassl (Python ``random``,
NumPy, torch), so a seed gives the same augmentations. AutoAugment/RandAugment policies are not
bundled and are rejected.
"""
import random
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    GaussianBlur,
    InterpolationMode,
    Normalize,
    RandomApply,
    RandomCrop,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
)
from yacs.config import CfgNode

from dassl.utils import get_most_similar_str_to_a_from_b

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

POLICIES = ["imagenet_policy", "cifar10_policy", "svhn_policy", "randaugment", "randaugment_fixmatch", "randaugment2"]
AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "instance_norm",
    "random_crop",
    "random_translation",
    "center_crop",  # test images are always center-cropped; listing it changes nothing
    "cutout",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
] + POLICIES


class Random2DTranslation:
    """With probability ``p``, enlarge by 1/8 and crop (height, width) at a random place;
    otherwise just resize to (height, width)."""

    def __init__(self, height: int, width: int, p: float = 0.5, interpolation=InterpolationMode.BILINEAR):
        self.height, self.width, self.p, self.interpolation = height, width, p, interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return F.resize(img, [self.height, self.width], interpolation=self.interpolation)
        big_height, big_width = int(round(self.height * 1.125)), int(round(self.width * 1.125))
        img = F.resize(img, [big_height, big_width], interpolation=self.interpolation)
        left = int(round(random.uniform(0, big_width - self.width)))
        top = int(round(random.uniform(0, big_height - self.height)))
        return F.crop(img, top, left, self.height, self.width)


class InstanceNormalization:
    """Normalise each channel of a [C, H, W] tensor by its own mean and std."""

    def __init__(self, eps: float = 1e-8):
        self.eps = eps

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        flat = img.reshape(img.shape[0], -1)
        mean = flat.mean(1).view(-1, 1, 1)
        std = flat.std(1).view(-1, 1, 1)
        return (img - mean) / (std + self.eps)


class Cutout:
    """Zero ``n_holes`` squares of side ``length`` (clipped at the border) of a [C, H, W] tensor."""

    def __init__(self, n_holes: int = 1, length: int = 16):
        self.n_holes, self.length = n_holes, length

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[1], img.shape[2]
        mask = torch.ones(h, w, dtype=img.dtype)
        half = self.length // 2
        for _ in range(self.n_holes):
            y, x = np.random.randint(h), np.random.randint(w)
            mask[max(y - half, 0) : min(y + half, h), max(x - half, 0) : min(x + half, w)] = 0
        return img * mask


class GaussianNoise:
    """With probability ``p``, add N(mean, std) noise to a tensor image."""

    def __init__(self, mean: float = 0.0, std: float = 0.15, p: float = 0.5):
        self.mean, self.std, self.p = mean, std, p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn(img.size()) * self.std + self.mean


def _check_choices(choices: Sequence[str]) -> None:
    for choice in choices:
        if choice in POLICIES:
            raise ValueError(
                f'INPUT.TRANSFORMS "{choice}" is an AutoAugment/RandAugment policy, which the bundled '
                "Dassl engine does not include; remove it or install real Dassl"
            )
        if choice not in AVAI_CHOICES:
            closest = get_most_similar_str_to_a_from_b(choice, AVAI_CHOICES)
            raise ValueError(f'Unknown INPUT.TRANSFORMS entry "{choice}"; did you mean "{closest}"?')


def _interpolation(cfg: CfgNode) -> InterpolationMode:
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(
            f'Unknown INPUT.INTERPOLATION "{cfg.INPUT.INTERPOLATION}"; use one of {", ".join(INTERPOLATION_MODES)}'
        )
    return INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]


class _Pipeline:
    """Collects transform steps, printing Dassl's "+ ..." line for each."""

    def __init__(self, title: str):
        print(title)
        self.steps: List[Callable] = []

    def add(self, description: str, step: Callable) -> None:
        print(f"+ {description}")
        self.steps.append(step)


def _add_tensor_normalization(pipeline: _Pipeline, cfg: CfgNode, choices: Sequence[str]) -> None:
    if "normalize" in choices:
        pipeline.add(
            f"normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})",
            Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD),
        )


def _build_transform_train(cfg: CfgNode, choices: Sequence[str]) -> Compose:
    inp, interpolation, size = cfg.INPUT, _interpolation(cfg), cfg.INPUT.SIZE
    pipeline = _Pipeline("Building transform_train")
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        pipeline.add(f"resize to {size[0]}x{size[1]}", Resize(size, interpolation=interpolation))
    if "random_translation" in choices:
        pipeline.add("random translation", Random2DTranslation(size[0], size[1]))
    if "random_crop" in choices:
        pipeline.add(f"random crop (padding = {inp.CROP_PADDING})", RandomCrop(size, padding=inp.CROP_PADDING))
    if "random_resized_crop" in choices:
        pipeline.add(
            f"random resized crop (size={size}, scale={inp.RRCROP_SCALE})",
            RandomResizedCrop(size, scale=inp.RRCROP_SCALE, interpolation=interpolation),
        )
    if "random_flip" in choices:
        pipeline.add("random flip", RandomHorizontalFlip())
    if "colorjitter" in choices:
        b, c, s, h = inp.COLORJITTER_B, inp.COLORJITTER_C, inp.COLORJITTER_S, inp.COLORJITTER_H
        pipeline.add(
            f"color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})",
            ColorJitter(brightness=b, contrast=c, saturation=s, hue=h),
        )
    if "randomgrayscale" in choices:
        pipeline.add("random gray scale", RandomGrayscale(p=inp.RGS_P))
    if "gaussian_blur" in choices:
        pipeline.add(f"gaussian blur (kernel={inp.GB_K})", RandomApply([GaussianBlur(inp.GB_K)], p=inp.GB_P))
    pipeline.add("to torch tensor of range [0, 1]", ToTensor())
    if "cutout" in choices:
        pipeline.add(
            f"cutout (n_holes={inp.CUTOUT_N}, length={inp.CUTOUT_LEN})", Cutout(inp.CUTOUT_N, inp.CUTOUT_LEN)
        )
    _add_tensor_normalization(pipeline, cfg, choices)
    if "gaussian_noise" in choices:
        pipeline.add(
            f"gaussian noise (mean={inp.GN_MEAN}, std={inp.GN_STD})", GaussianNoise(inp.GN_MEAN, inp.GN_STD)
        )
    if "instance_norm" in choices:
        pipeline.add("instance normalization", InstanceNormalization())
    return Compose(pipeline.steps)


class ResizeLongest:
    """Resize so that the longer edge is ``size`` (open_clip's "longest" resize mode; the
    center crop that follows pads the shorter edge with zeros)."""

    def __init__(self, size: int, interpolation=InterpolationMode.BICUBIC):
        self.size, self.interpolation = size, interpolation

    def __call__(self, img):
        width, height = img.size
        scale = self.size / max(width, height)
        return F.resize(img, [round(height * scale), round(width * scale)], interpolation=self.interpolation)


def _build_transform_test(cfg: CfgNode, choices: Sequence[str]) -> Compose:
    interpolation, size = _interpolation(cfg), cfg.INPUT.SIZE
    pipeline = _Pipeline("Building transform_test")
    # INPUT.RESIZE_MODE (added by trainers/open_clip_backbone.py; Dassl's own test resize is "shortest")
    resize_mode = cfg.INPUT.get("RESIZE_MODE", "shortest")
    if resize_mode == "squash":
        pipeline.add(f"resize to {size[0]}x{size[1]}", Resize(size, interpolation=interpolation))
    elif resize_mode == "longest":
        pipeline.add(f"resize the longer edge to {max(size)}", ResizeLongest(max(size), interpolation=interpolation))
        pipeline.add(f"{size[0]}x{size[1]} center crop, padded with zeros", CenterCrop(size))
    elif resize_mode == "shortest":
        pipeline.add(f"resize the smaller edge to {max(size)}", Resize(max(size), interpolation=interpolation))
        pipeline.add(f"{size[0]}x{size[1]} center crop", CenterCrop(size))
    else:
        raise ValueError(f'Unknown INPUT.RESIZE_MODE "{resize_mode}"; use shortest, longest or squash')
    pipeline.add("to torch tensor of range [0, 1]", ToTensor())
    _add_tensor_normalization(pipeline, cfg, choices)
    if "instance_norm" in choices:
        pipeline.add("instance normalization", InstanceNormalization())
    return Compose(pipeline.steps)


def build_transform(cfg: CfgNode, is_train: bool = True, choices: Optional[Sequence[str]] = None) -> Optional[Compose]:
    """The train or test pipeline for ``choices`` (default ``INPUT.TRANSFORMS``); None with
    ``INPUT.NO_TRANSFORM``."""
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    _check_choices(choices)
    return _build_transform_train(cfg, choices) if is_train else _build_transform_test(cfg, choices)
