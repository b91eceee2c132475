"""``TrainerBase``: registered models with their optimisers and schedulers, checkpoints,
TensorBoard scalars and the epoch loop, as in Dassl's ``dassl.engine.trainer``.

Beyond Dassl, a checkpoint holds everything the next step depends on (``train_state``: the
random-number states, the batches done in the current epoch, the loss meters, the best
validation result, the gradient scaler), so a resumed run is bitwise the uninterrupted one;
training stops with one line on a non-finite loss or weight; and a stop request (SIGTERM) saves a
resumable checkpoint after the current batch.
"""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from dassl.utils.distributed import synchronize_training, world_size
from dassl.utils import load_checkpoint, save_checkpoint, tolist_if_not
from dassl.utils.rng import capture_rng_state, restore_rng_state
from dassl.utils.torchtools import (
    NonFiniteError,
    check_state_dict_fits,
    checkpoint_progress,
    missing_file_message,
    restore_checkpoint,
    resume_checkpoints,
    weight_problem,
)

from .summary_writer import open_summary_writer

Names = Optional[Union[str, Sequence[str]]]  # one model name, several, or None for all


class TrainingInterrupted(Exception):
    """A stop request (e.g. SIGTERM) ended training after saving a resumable checkpoint."""


class TrainerBase:
    """Registered models and their optimisers/schedulers, checkpoints, and the epoch loop."""

    def __init__(self):
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Optional[torch.optim.Optimizer]]" = OrderedDict()
        self._scheds: "OrderedDict[str, Any]" = OrderedDict()
        self._writer = None
        self._stop_reason = ""  # set by request_stop() while the epoch loop runs
        self._in_loop = False
        self._resume_point = None  # (batches done, rng state, meters) when resuming mid-epoch
        self._epoch_rng = None  # the rng state at the start of the current epoch
        self.last_checkpoint = ""  # newest checkpoint written or resumed from, for messages

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
            raise NonFiniteError(self.divergence_message(f"the loss is {loss.detach().float().flatten()[0].item()}"))

    def divergence_message(self, problem: str) -> str:
        """One line: where training diverged, what, the last good checkpoint, what to do."""
        where = f"epoch {getattr(self, 'epoch', 0) + 1}"
        if hasattr(self, "batch_idx"):
            where += f", batch {self.batch_idx + 1}"
        last = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint was saved"
        return (
            f"Training diverged at {where}: {problem}; nothing of this epoch was saved and {last}. "
            "Train again with a lower OPTIM.LR in a new --output-dir (resuming repeats the same steps)"
        )

    def check_weights(self) -> None:
        """``NonFiniteError`` if a trained weight is NaN, infinite or absurdly large."""
        for name in self.get_model_names():
            trained = {f"{name}.{key}": p for key, p in self._models[name].named_parameters() if p.requires_grad}
            problem = weight_problem(trained, masks_allowed=False)
            if problem:
                raise NonFiniteError(self.divergence_message(problem))

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
        self._save_checkpoints(epoch + 1, directory, self.train_state(), is_best, val_result, model_name)

    def _save_checkpoints(self, stored_epoch: int, directory: str, train_state: Dict[str, Any], is_best: bool = False,
                          val_result: Optional[float] = None, model_name: str = "") -> None:
        self.check_weights()
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": stored_epoch,
                "optimizer": None if optim is None else optim.state_dict(),
                "scheduler": None if sched is None else sched.state_dict(),
                "val_result": val_result,
                "train_state": train_state,
            }
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)
        if model_name != "model-best.pth.tar":
            self.last_checkpoint = osp.join(directory, self.get_model_names()[0], model_name or f"model.pth.tar-{stored_epoch}")

    def train_state(self, batch: int = 0, meters: Optional[Dict[str, List[float]]] = None) -> Dict[str, Any]:
        """What resuming needs besides weights, optimizer and scheduler, as of now: the rng states,
        the batches done in the current epoch (0: it is finished) and, mid-epoch, the rng state at
        its start and the loss meters; the best validation result; the gradient scaler."""
        scaler = getattr(self, "scaler", None)
        state = {
            "rng": capture_rng_state(),
            "batch": batch,
            "best_result": getattr(self, "best_result", None),
            "scaler": scaler.state_dict() if scaler is not None else None,
        }
        if batch:
            state.update(epoch_rng=self._epoch_rng, meters=meters)
        return state

    def save_resume_point(self, batches_done: int, meters: Dict[str, List[float]], model_name: str) -> None:
        """Save a checkpoint inside epoch ``self.epoch`` after ``batches_done`` batches."""
        self._save_checkpoints(self.epoch, self.output_dir, self.train_state(batches_done, meters), model_name=model_name)

    def resume_model_if_exist(self, directory: str) -> int:
        """Restore every registered model from the newest checkpoint in ``directory`` that loads
        for all of them; returns the epoch index to start from (0 when training from scratch)."""
        names = self.get_model_names()
        if not names:
            raise RuntimeError(
                "No model is registered, so there is nothing to train; call self.register_model() in build_model()"
            )
        if not all(osp.exists(osp.join(directory, name)) for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        chosen = self._newest_common_checkpoint(directory, names)
        if chosen is None:
            print(f"No checkpoint in {directory} loads; train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        for name in names:
            fpath, checkpoint = chosen[name]
            restore_checkpoint(fpath, checkpoint, self._models[name], self._optims[name], self._scheds[name])
        fpath, checkpoint = chosen[names[0]]
        start_epoch, batches_done = checkpoint_progress(checkpoint)
        print(f"Previous epoch: {start_epoch}" + (f" (and {batches_done} batches of the next)" if batches_done else ""))
        self._restore_train_state(checkpoint.get("train_state"), fpath)
        self.last_checkpoint = fpath
        return start_epoch

    @staticmethod
    def _newest_common_checkpoint(directory: str, names: List[str]) -> Optional[Dict[str, Tuple[str, Dict[str, Any]]]]:
        """Per model (path, checkpoint), all at the same progress, the newest such; None if none."""
        others: Dict[str, List[Tuple[str, Dict[str, Any]]]] = {}
        for fpath, checkpoint in resume_checkpoints(osp.join(directory, names[0])):
            progress = checkpoint_progress(checkpoint)
            chosen = {names[0]: (fpath, checkpoint)}
            for name in names[1:]:
                if name not in others:
                    others[name] = list(resume_checkpoints(osp.join(directory, name)))
                match = [(p, c) for p, c in others[name] if checkpoint_progress(c) == progress]
                if not match:
                    break
                chosen[name] = match[0]
            else:
                return chosen
        return None

    def _restore_train_state(self, state: Optional[Dict[str, Any]], fpath: str) -> None:
        if not state or "rng" not in state:
            print(
                f"Note: {fpath} holds no random-number state (written by real Dassl or an earlier version): "
                "resuming is best effort, the rest of the run will differ from an uninterrupted one"
            )
            return
        if state.get("batch"):
            restore_rng_state(state["epoch_rng"])  # the epoch is replayed from its start
            self._resume_point = (state["batch"], state["rng"], state.get("meters") or {})
        else:
            restore_rng_state(state["rng"])
        if state.get("best_result") is not None:
            self.best_result = state["best_result"]
        scaler = getattr(self, "scaler", None)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])

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
        self._stop_reason = ""  # set by request_stop() while the epoch loop runs
        self._in_loop = False
        self._resume_point = None  # (batches done, rng state, meters) when resuming mid-epoch
        self._epoch_rng = None  # the rng state at the start of the current epoch
        self.last_checkpoint = ""  # newest checkpoint written or resumed from, for messages

    def write_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None) -> None:
        """No-op until ``init_writer`` (so evaluation-only runs write nothing)."""
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # ---- loop and hooks -------------------------------------------------------------------

    def train(self, start_epoch: int, max_epoch: int) -> None:
        """``before_train``, then per epoch ``before_epoch``/``run_epoch``/``after_epoch``, then
        ``after_train``. The range starts at ``self.start_epoch`` as ``before_train`` left it,
        so a resumed run continues where it stopped. A stop request is honoured after the
        current batch (``run_epoch``) or epoch, by ``TrainingInterrupted``."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        self._in_loop = True
        try:
            for self.epoch in range(self.start_epoch, self.max_epoch):
                self.before_epoch()
                self.run_epoch()
                self.after_epoch()
                if self._stop_reason:
                    raise TrainingInterrupted(
                        f"Stopped by {self._stop_reason} after epoch {self.epoch + 1}; {self.last_checkpoint} "
                        "holds it: rerun the same command to continue"
                    )
        finally:
            self._in_loop = False
        self.after_train()

    def request_stop(self, reason: str) -> bool:
        """Ask the epoch loop to save and stop (e.g. on SIGTERM); False when no loop runs, so
        there is nothing to save and the caller stops at once."""
        if self._in_loop:
            self._stop_reason = reason
        return self._in_loop

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
