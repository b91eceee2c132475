"""``build_lr_scheduler`` with Dassl's warmup wrappers, fixed for current PyTorch.

The LR per epoch is exactly Dassl's: the warmup wrapper runs its own LR for WARMUP_EPOCH steps,
then hands each step to the inner scheduler, which therefore starts one epoch late (with the
CoOp configs epoch 1 trains at WARMUP_CONS_LR, epoch 2 at LR, epoch k >= 2 at
LR * (1 + cos(pi * (k - 2) / MAX_EPOCH)) / 2). Two Dassl bugs are fixed: the wrappers no
longer pass ``verbose`` (removed in torch 2.7), and their state dict stores the inner
scheduler's *state* rather than the object, so checkpoints load with ``weights_only=True`` and
resuming updates the live inner scheduler instead of a detached copy.
"""
from typing import Any, Dict, List, Optional

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR
from yacs.config import CfgNode

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _WarmupScheduler(LRScheduler):
    """Own LR while ``last_epoch < warmup_epoch``; afterwards ``successor`` drives the LR."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int, last_epoch: int = -1
    ):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def warmup_lr(self, base_lr: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> List[float]:
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return [self.warmup_lr(base_lr) for base_lr in self.base_lrs]

    def step(self, epoch: Optional[int] = None) -> None:
        if self.last_epoch < self.warmup_epoch:
            super().step(epoch)
        else:
            self.successor.step(epoch)
            self._last_lr = self.successor.get_last_lr()

    def state_dict(self) -> Dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor_state"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Accepts this engine's layout and real Dassl's, which holds the pickled inner
        scheduler under "successor"; either way the state goes into the live inner scheduler."""
        state = dict(state_dict)
        successor_state = state.pop("successor_state", None)
        pickled_successor = state.pop("successor", None)
        if pickled_successor is not None:
            successor_state = pickled_successor.state_dict()
        self.__dict__.update(state)
        if successor_state is not None:
            self.successor.load_state_dict(successor_state)


class ConstantWarmupScheduler(_WarmupScheduler):
    """``cons_lr`` for the first ``warmup_epoch`` epochs."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        successor: LRScheduler,
        warmup_epoch: int,
        cons_lr: float,
        last_epoch: int = -1,
    ):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self, base_lr: float) -> float:
        return self.cons_lr


class LinearWarmupScheduler(_WarmupScheduler):
    """``min_lr`` in epoch 0, then ``base_lr * epoch / warmup_epoch``."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        successor: LRScheduler,
        warmup_epoch: int,
        min_lr: float,
        last_epoch: int = -1,
    ):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self, base_lr: float) -> float:
        if self.last_epoch == 0:
            return self.min_lr
        return base_lr * self.last_epoch / self.warmup_epoch


def _main_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: CfgNode) -> LRScheduler:
    name, stepsize = optim_cfg.LR_SCHEDULER, optim_cfg.STEPSIZE
    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(f"OPTIM.STEPSIZE must be an int for single_step, got {stepsize!r}")
        if stepsize <= 0:
            stepsize = optim_cfg.MAX_EPOCH
        return StepLR(optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA)
    if name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(f"OPTIM.STEPSIZE must be a list of epochs for multi_step, got {stepsize!r}")
        return MultiStepLR(optimizer, milestones=list(stepsize), gamma=optim_cfg.GAMMA)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, float(optim_cfg.MAX_EPOCH))
    raise ValueError(f'Unknown OPTIM.LR_SCHEDULER "{name}"; choose one of {", ".join(AVAI_SCHEDS)}')


def build_lr_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: CfgNode) -> LRScheduler:
    """The scheduler named by ``OPTIM.LR_SCHEDULER``, wrapped in a warmup if WARMUP_EPOCH > 0.

    Stepped once per epoch (the trainers call ``update_lr`` after an epoch's last batch).
    """
    scheduler = _main_scheduler(optimizer, optim_cfg)
    if optim_cfg.WARMUP_EPOCH <= 0:
        return scheduler
    if not optim_cfg.WARMUP_RECOUNT:
        scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
    if optim_cfg.WARMUP_TYPE == "constant":
        return ConstantWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR)
    if optim_cfg.WARMUP_TYPE == "linear":
        return LinearWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR)
    raise ValueError(f'Unknown OPTIM.WARMUP_TYPE "{optim_cfg.WARMUP_TYPE}"; choose constant or linear')
