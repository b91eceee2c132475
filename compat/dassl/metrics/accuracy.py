"""Top-k accuracy of a batch of logits."""
from typing import List, Sequence, Tuple, Union

import torch


def compute_accuracy(
    output: Union[torch.Tensor, Tuple[torch.Tensor, ...], List[torch.Tensor]],
    target: torch.Tensor,
    topk: Sequence[int] = (1,),
) -> List[torch.Tensor]:
    """Accuracy in percent for each k, as 1-element tensors on ``output``'s device.

    A tuple or list ``output`` (logits plus extras) is scored on its first element.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    batch_size = target.size(0)
    top_predictions = output.topk(max(topk), dim=1, largest=True, sorted=True)[1]  # [B, maxk]
    hits = top_predictions.eq(target.view(-1, 1))
    return [hits[:, :k].any(dim=1).float().sum(0, keepdim=True).mul_(100.0 / batch_size) for k in topk]
