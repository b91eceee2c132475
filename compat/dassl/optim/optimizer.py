"""``build_optimizer``: Dassl's optimiser choices and their config keys."""
import warnings
from typing import Any, Iterable, List, Optional, Union

import torch
import torch.nn as nn
from yacs.config import CfgNode

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "adamw"]


def _staged_param_groups(model: nn.Module, optim_cfg: CfgNode) -> List[dict]:
    """Children named in NEW_LAYERS train at LR, all other children at LR * BASE_LR_MULT."""
    if not isinstance(model, nn.Module):
        raise TypeError("OPTIM.STAGED_LR needs an nn.Module to split into base and new layers")
    if isinstance(model, nn.DataParallel):
        model = model.module
    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        warnings.warn("OPTIM.STAGED_LR is on but OPTIM.NEW_LAYERS is empty, so every layer gets the base LR")

    base_params, new_params = [], []
    for name, child in model.named_children():
        (new_params if name in new_layers else base_params).extend(child.parameters())
    return [
        {"params": base_params, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT},
        {"params": new_params},
    ]


def build_optimizer(
    model: Union[nn.Module, Iterable[Any]], optim_cfg: CfgNode, param_groups: Optional[Iterable[Any]] = None
) -> torch.optim.Optimizer:
    """The optimiser named by ``OPTIM.NAME`` over ``param_groups``, else all of ``model``'s
    parameters (frozen ones included, as in Dassl: they get no gradient and are skipped)."""
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        hint = " (Dassl's own RAdam is not bundled)" if name == "radam" else ""
        raise ValueError(f'Unknown OPTIM.NAME "{name}"{hint}; choose one of {", ".join(AVAI_OPTIMS)}')

    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored because build_optimizer() was given param_groups")
    if param_groups is None:
        if optim_cfg.STAGED_LR:
            param_groups = _staged_param_groups(model, optim_cfg)
        elif isinstance(model, nn.Module):
            param_groups = model.parameters()
        else:
            param_groups = model

    lr, weight_decay = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas, amsgrad=name == "amsgrad")
    if name == "adamw":
        return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    return torch.optim.RMSprop(
        param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=weight_decay, alpha=optim_cfg.RMSPROP_ALPHA
    )
