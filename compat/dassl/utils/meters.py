"""Running averages of losses and timings for the training progress line."""
from collections import defaultdict
from typing import Dict, Optional, Union

import torch

__all__ = ["AverageMeter", "MetricMeter"]

Number = Union[int, float, torch.Tensor]


class AverageMeter:
    """Last value and running (or exponential moving, ``ema=True``) average."""

    def __init__(self, ema: bool = False):
        self.ema = ema
        self.reset()

    def reset(self) -> None:
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val: Number, n: int = 1) -> None:
        if isinstance(val, torch.Tensor):
            val = val.item()
        self.val = val
        self.sum += val * n
        self.count += n
        if self.ema:
            self.avg = 0.9 * self.avg + 0.1 * val
        else:
            self.avg = self.sum / self.count


class MetricMeter:
    """One ``AverageMeter`` per key of the dicts that ``forward_backward`` returns."""

    def __init__(self, delimiter: str = " "):
        self.meters = defaultdict(AverageMeter)
        self.delimiter = delimiter

    def update(self, input_dict: Optional[Dict[str, Number]]) -> None:
        if input_dict is None:
            return
        if not isinstance(input_dict, dict):
            raise TypeError(
                f"MetricMeter.update() needs a dict of name -> value, got {type(input_dict).__name__}; "
                "forward_backward() must return such a dict"
            )
        for name, value in input_dict.items():
            self.meters[name].update(value)

    def __str__(self) -> str:
        return self.delimiter.join(
            f"{name} {meter.val:.4f} ({meter.avg:.4f})" for name, meter in self.meters.items()
        )
