"""Trainer base classes: Dassl's construction order, epoch loop, hooks, printed lines and
checkpoint layout, so CoOp-family trainers written for Dassl run unchanged.

``SimpleTrainer`` adds data, evaluation and the default hooks to ``TrainerBase``; ``TrainerX``
trains on labelled data only.
"""
import datetime
import math
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Tuple

import torch
from yacs.config import CfgNode

from dassl.data import DataManager
from dassl.evaluation import build_evaluator
from dassl.utils import AverageMeter, MetricMeter, mkdir_if_missing
from dassl.utils.distributed import evaluate_batches
from dassl.utils.rng import capture_rng_state, restore_rng_state
from dassl.utils.torchtools import NonFiniteError

from .trainer_base import TrainerBase, TrainingInterrupted

__all__ = ["TrainerBase", "SimpleTrainer", "TrainerX", "TrainingInterrupted"]

# Per model, the checkpoint of the latest finished epoch while no numbered one is newer.
RESUME_CHECKPOINT = "model-last.pth.tar"


def meter_state(meters: MetricMeter) -> Dict[str, List[float]]:
    """Each loss meter's last value, sum and count, so a resumed epoch logs the same averages."""
    return {name: [meter.val, meter.sum, meter.count] for name, meter in meters.meters.items()}


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from ``cfg``; implements Dassl's default hooks."""

    def __init__(self, cfg: CfgNode):
        super().__init__()
        self.check_cfg(cfg)
        use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -math.inf

    def check_cfg(self, cfg: CfgNode) -> None:
        """Hook to validate ``cfg`` before anything is built (``self.cfg`` is not set yet)."""

    def build_data_loader(self) -> None:
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.build_model() is missing: the bundled Dassl engine has no SimpleNet "
            "(dassl.modeling), so a trainer must build its model and register_model() it"
        )

    def train(self) -> None:
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self) -> None:
        """Resume from ``cfg.RESUME`` or, if unset, from ``OUTPUT_DIR`` when checkpoints are
        there (so training into a finished output folder goes straight to the final test)."""
        self.start_epoch = self.resume_model_if_exist(self.cfg.RESUME or self.cfg.OUTPUT_DIR)
        writer_dir = osp.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        self.time_start = time.time()

    def after_epoch(self) -> None:
        """Evaluate on val for ``best_val`` (saving model-best on improvement); save the model
        every ``TRAIN.CHECKPOINT_FREQ`` epochs and after the last one, and otherwise the
        overwritten resume checkpoint."""
        last_epoch = self.epoch + 1 == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name="model-best.pth.tar")

        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)
            self.remove_resume_checkpoints()
        else:
            # Dassl saves only every CHECKPOINT_FREQ epochs (by default: the last), so an
            # interrupted run would start again from scratch. Keep one checkpoint of the latest
            # epoch, overwritten each epoch and removed once a numbered one exists, to resume from.
            self.save_model(self.epoch, self.output_dir, model_name=RESUME_CHECKPOINT)

    def remove_resume_checkpoints(self) -> None:
        for name in self.get_model_names():
            path = osp.join(self.output_dir, name, RESUME_CHECKPOINT)
            if osp.exists(path):
                os.remove(path)

    def after_train(self) -> None:
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = datetime.timedelta(seconds=round(time.time() - self.time_start))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    @torch.no_grad()
    def test(self, split: Optional[str] = None) -> float:
        """Evaluate on ``split`` (default ``TEST.SPLIT``; "val" falls back to test when there is
        no val set) and return the first result, the accuracy in percent."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader

        print(f"Evaluate on the *{split}* set")
        for outputs, labels in evaluate_batches(data_loader, self._evaluate_batch):  # sharded under torchrun
            self.evaluator.process(outputs, labels)

        results = self.evaluator.evaluate()
        for key, value in results.items():
            self.write_scalar(f"{split}/{key}", value, self.epoch)
        return list(results.values())[0]

    def _evaluate_batch(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.parse_batch_test(batch)
        return self.model_inference(images), labels

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)

    def parse_batch_test(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)


class TrainerX(SimpleTrainer):
    """Trains on the labelled loader ``train_loader_x``."""

    def run_epoch(self) -> None:
        """One pass over ``train_loader_x``, printing Dassl's progress line every
        ``TRAIN.PRINT_FREQ`` batches (every batch when the epoch is shorter than that).

        Resuming inside an epoch replays its first batches without training on them: the loader
        draws the same order and augmentations from the epoch's starting rng state, then the rng
        state of the moment the checkpoint was saved takes over. After each batch a non-finite
        loss or weight stops training, and a stop request saves a resumable checkpoint.
        """
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ
        self._epoch_rng = capture_rng_state()
        replay, resume_rng, meters = self._resume_point or (0, None, {})
        self._resume_point = None
        for name, (val, total, count) in meters.items():
            meter = losses.meters[name]
            meter.val, meter.sum, meter.count, meter.avg = val, total, count, total / count

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            if self.batch_idx < replay:
                if self.batch_idx + 1 == replay:
                    restore_rng_state(resume_rng)
                end = time.time()
                continue
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            self.check_step(loss_summary)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            if (self.batch_idx + 1) % print_freq == 0 or self.num_batches < print_freq:
                print(self._progress_line(batch_time, data_time, losses))

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            if self._stop_reason:
                self.save_resume_point(self.batch_idx + 1, meter_state(losses), RESUME_CHECKPOINT)
                raise TrainingInterrupted(
                    f"Stopped by {self._stop_reason} at epoch {self.epoch + 1}, batch {self.batch_idx + 1}; "
                    f"{self.last_checkpoint} holds it: rerun the same command to continue"
                )
            end = time.time()

    def check_step(self, loss_summary: Dict[str, Any]) -> None:
        """Stop with one line if the step's loss or a trained weight is not finite."""
        loss = loss_summary.get("loss") if isinstance(loss_summary, dict) else None
        if isinstance(loss, (int, float)) and not math.isfinite(loss):
            raise NonFiniteError(self.divergence_message(f"the loss is {loss}"))
        self.check_weights()

    def _progress_line(self, batch_time: AverageMeter, data_time: AverageMeter, losses: MetricMeter) -> str:
        """e.g. ``epoch [1/50] batch [5/18] time 0.101 (0.350) data 0.000 (0.210) loss 1.2345
        (1.4000) lr 1.0000e-05 eta 0:05:12``; eta = mean batch time x batches left in the run."""
        batches_left = self.num_batches - self.batch_idx - 1 + (self.max_epoch - self.epoch - 1) * self.num_batches
        eta = datetime.timedelta(seconds=int(batch_time.avg * batches_left))
        return " ".join(
            [
                f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                f"{losses}",
                f"lr {self.get_current_lr():.4e}",
                f"eta {eta}",
            ]
        )

    def parse_batch_train(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device)
