"""``TrainerBase``: registered models with their optimisers and schedulers, checkpoints,
TensorBoard scalars and the epoch loop, as in Dassl's ``dassl.engine.trainer``."""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from dassl.utils.distributed import synchronize_training, world_size
from dassl.utils import load_checkpoint, resume_from_checkpoint, save_checkpoint, tolist_if_not
from dassl.utils.torchtools import check_state_dict_fits, missing_file_message

from .summary_writer import open_summary_writer

Names = Optional[Union[str, Sequence[str]]]  # one model name, several, or None for all


class TrainerBase:
    """Registered models and their optimisers/schedulers, checkpoints, and the epoch loop."""

    def __init__(self):
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Optional[torch.optim.Optimizer]]" = OrderedDict()
        self._scheds: "OrderedDict[str, Any]" = OrderedDict()
        self._writer = None

    # ---- registered models -------------------------------------------------------------

    def register_model(
        self,
        name: str = "model",
        model: Optional[nn.Module] = None,
        optim: Optional[torch.optim.Optimizer] = None,
        sched: Optional[Any] = None,
    ) -> None:
        """Register ``model`` (and optionally its optimiser and scheduler) under ``name``; the name
        is also the checkpoint sub-folder."""
        for registry in ("_models", "_optims", "_scheds"):
            if self.__dict__.get(registry) is None:
                raise AttributeError("Cannot register a model before super().__init__() has run; call it first")
        assert name not in self._models, f'Found duplicate model names: "{name}" is already registered'
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched
        if optim is not None and world_size() > 1:  # torchrun: rank 0's weights, averaged gradients
            synchronize_training(model, optim)

    def get_model_names(self, names: Names = None) -> List[str]:
        """All registered names in registration order, or ``names`` after checking each exists."""
        registered = list(self._models.keys())
        if names is None:
            return registered
        names = tolist_if_not(names)
        for name in names:
            assert name in registered, f'No model registered as "{name}"; registered: {registered}'
        return names

    def set_model_mode(self, mode: str = "train", names: Names = None) -> None:
        """``train()`` or ``eval()`` on the registered modules only (frozen parts keep their mode)."""
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f'Unknown model mode "{mode}"; use "train", "eval" or "test"')

    def update_lr(self, names: Names = None) -> None:
        """Step every scheduler; the trainers call this after an epoch's last batch."""
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def get_current_lr(self, names: Names = None) -> float:
        """LR of the first param group of the first named model's optimiser."""
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def model_zero_grad(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names: Names = None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names: Names = None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    # ---- checkpoints --------------------------------------------------------------------

    def save_model(
        self,
        epoch: int,
        directory: str,
        is_best: bool = False,
        val_result: Optional[float] = None,
        model_name: str = "",
    ) -> None:
        """Save every registered model to ``directory/<name>/``; the stored epoch is ``epoch + 1``."""
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": None if optim is None else optim.state_dict(),
                "scheduler": None if sched is None else sched.state_dict(),
                "val_result": val_result,
            }
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)

    def resume_model_if_exist(self, directory: str) -> int:
        """Restore every registered model from ``directory`` if all have a checkpoint folder there;
        returns the epoch index to start from (0 when training from scratch)."""
        names = self.get_model_names()
        if not names:
            raise RuntimeError(
                "No model is registered, so there is nothing to train; call self.register_model() in build_model()"
            )
        if not all(osp.exists(osp.join(directory, name)) for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name], self._scheds[name]
            )
        return start_epoch

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``model.pth.tar-<epoch>`` (or ``model-best.pth.tar``) into every registered model."""
        if not directory:
            print(
                "Note that load_model() is skipped as no pretrained model is given "
                "(ignore this if it's done on purpose)"
            )
            return
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = osp.join(directory, name, model_file)
            if not osp.exists(model_path):
                raise FileNotFoundError(
                    f"{missing_file_message(model_path)} (--load-epoch N loads model.pth.tar-N; "
                    "without it model-best.pth.tar is loaded)"
                )
            checkpoint = load_checkpoint(model_path)
            state_dict = checkpoint["state_dict"]
            check_state_dict_fits(self._models[name], state_dict, f'Checkpoint "{model_path}"')
            val_result = checkpoint.get("val_result")
            details = f"epoch={checkpoint['epoch']}"
            if val_result is not None:
                details += f", val_result={val_result:.1f}"
            print(f"Load {model_path} to {name} ({details})")
            self._models[name].load_state_dict(state_dict)

    # ---- tensorboard --------------------------------------------------------------------

    def init_writer(self, log_dir: str) -> None:
        if self._writer is None:
            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = open_summary_writer(log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None) -> None:
        """No-op until ``init_writer`` (so evaluation-only runs write nothing)."""
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # ---- loop and hooks -------------------------------------------------------------------

    def train(self, start_epoch: int, max_epoch: int) -> None:
        """``before_train``, then per epoch ``before_epoch``/``run_epoch``/``after_epoch``, then
        ``after_train``. The range starts at ``self.start_epoch`` as ``before_train`` left it,
        so a resumed run continues where it stopped."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def test(self) -> float:
        raise NotImplementedError

    def parse_batch_train(self, batch: Dict[str, Any]) -> Tuple[Any, ...]:
        raise NotImplementedError

    def parse_batch_test(self, batch: Dict[str, Any]) -> Tuple[Any, ...]:
        raise NotImplementedError

    def forward_backward(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
