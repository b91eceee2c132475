"""DePT: Decoupled Prompt Tuning (Zhang, Wu, Gao, Shen and Song, CVPR 2024, arXiv 2309.07439;
code: Koorye/DePT).

Tuning a prompt on the base classes fills most feature channels with base-specific knowledge and
so costs accuracy on new classes. DePT moves that knowledge into a separate feature space: beside
the host's prompts it trains a channel-adjusted head (the paper's CAT head) on the base classes,

    lp(f) = W (s_img * f + b_img) + b,     lp(t) = W (s_text * t + b_text) + b

with per-channel scales s and shifts b on the raw (unnormalised) image features f and class text
features t, and one linear classifier W, b over the base classes for both. Training, the head
classifies the batch's images and its labels' text features (2B samples):

    L = (1 - WEIGHT) * CE(host logits) + WEIGHT * CE(head logits) (+ the host's other terms)

Testing on the base classes the prediction is the fusion (1 - WEIGHT) * host logits + WEIGHT *
lp(f) (``TEST_TIME_FUSION``; without it the head's alone); on new classes it is the host's
alone. The head's learning rate is ``OPTIM.LR * OPTIM.LR_EXP`` (6.5 x the prompts').

The plug-in is ``DecoupledPromptTuning``: it needs from a host only that the host's model has an
``image_encoder`` returning raw features, raw class text features passing its ``text_features_out``
tap (``backbone.FeatureTap``, on every path: full sequences or a shared prefix), and that its logits are
``logit_scale.exp()`` times their cosine similarity (every CoOp-family host here). It reads those
features from the host's own forward pass, so a host needs no code for it. Trainers
``<Host>_DePT`` are made from it in ``trainers/plugins.py``.

As the reference (``trainers/elp_*.py``, ``train.py`` there), with its config keys and defaults
(``TRAINER.LINEAR_PROBE``, ``TRAINER.FILM``, ``OPTIM.LR_EXP``) and its rule for where the head
exists: training on the base classes, or on all classes of an ImageNet dataset (cross-dataset);
elsewhere the prediction is the host's. Except:

- the host's part of the checkpoint stays the host's (its folder and keys, so a ``<Host>_DePT``
  checkpoint evaluates with ``<Host>``); the head (``film_lp_img.*``, ``film_lp_text.*``,
  ``linear_probe_proj.*``: the reference's names) is its own registered model with its own
  optimiser: on CoOp, CoCoOp and KgCoOp ``PromptLearner``, the reference's folder, holding the
  prompt learner too under the reference's keys (so the reference loads it; it also saves the
  frozen CLIP); on MaPLe, IVLP and PromptSRC ``linear_probe``. Reference checkpoints (one folder
  with everything: ``PromptLearner/``, or MaPLe's host folder) load here;
- ``LINEAR_PROBE.TYPE`` "similarity" (a variant the reference's scripts do not run) is refused;
- the loss is written as the host's loss with ``WEIGHT`` x its cross-entropy moved to the head's
  (the same sum), so host terms beside the cross-entropy (KgCoOp's) keep their weight, as in the
  reference's KgCoOp, and a host needs no code for it;
- evaluations on the base classes encode images themselves (the feature cache holds unit-norm
  features; the head needs raw ones).
"""
import contextlib
import os
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn import functional as F

from dassl.optim import build_lr_scheduler, build_optimizer

from .plpp import captured_outputs

HEAD_TYPES = ("linear",)
HEAD_MODEL_NAME = "linear_probe"  # the head's registered name (its checkpoint folder) on a deep-prompting host
REFERENCE_MODEL_NAME = "PromptLearner"  # the reference registers its whole CLIP under this name (CoOp, CoCoOp, KgCoOp)
HEAD_PREFIXES = ("film_lp_img.", "film_lp_text.", "linear_probe_proj.")


def extend_cfg(cfg) -> None:
    """Add DePT's keys, as the reference's ``train.py`` names them, with its defaults."""
    from yacs.config import CfgNode as CN

    if "LINEAR_PROBE" not in cfg.TRAINER:  # shared with LinearProbeCLIP's keys (no key in common)
        cfg.TRAINER.LINEAR_PROBE = CN()
    cfg.TRAINER.LINEAR_PROBE.TYPE = "linear"  # the head's classifier ("similarity" is refused here)
    cfg.TRAINER.LINEAR_PROBE.WEIGHT = 0.7  # the head's share of the loss and the base-class fusion
    cfg.TRAINER.LINEAR_PROBE.TEST_TIME_FUSION = True  # base classes: fuse the head with the host (else the head alone)
    cfg.TRAINER.FILM = CN()
    cfg.TRAINER.FILM.LINEAR_PROBE = True  # per-channel scale and shift before the head's classifier
    cfg.OPTIM.LR_EXP = 6.5  # the head's learning rate is OPTIM.LR times this


# ---------------------------------------------------------------------------------------------
# The head: tensors in, logits out
# ---------------------------------------------------------------------------------------------
class ChannelScaling(nn.Module):
    """Per-channel scale and shift, s * x + b (the reference's ``FiLM``), starting at identity."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.type(x.dtype) * x + self.bias.type(x.dtype)


class ChannelAdjustedHead(nn.Module):
    """DePT's head over raw features [.., dim]: channel scaling per modality, one linear
    classifier over ``n_classes`` (None: no classifier, on classes the head was not trained for).
    """

    def __init__(self, dim: int, n_classes: Optional[int], channel_scaling: bool = True,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.film_lp_img = ChannelScaling(dim) if channel_scaling else nn.Identity()
        self.film_lp_text = ChannelScaling(dim) if channel_scaling else nn.Identity()
        self.linear_probe_proj = nn.Linear(dim, n_classes).type(dtype) if n_classes else None

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        """The head's logits [B, n_classes] of raw image features [B, dim]."""
        return self.linear_probe_proj(self.film_lp_img(image_features))

    def training_logits(self, image_features: torch.Tensor, text_features: torch.Tensor,
                        labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits and labels [2B] of the labels' text features, then the images: the head learns
        both modalities. ``text_features``: [C, dim] or, per image, [B, C, dim] (CoCoOp)."""
        if text_features.dim() == 3:
            label_text = text_features[torch.arange(labels.shape[0], device=labels.device), labels]
        else:
            label_text = text_features[labels]
        features = torch.cat([self.film_lp_text(label_text), self.film_lp_img(image_features)])
        return self.linear_probe_proj(features), torch.cat([labels, labels])


class ReferenceHeadCheckpoint(nn.Module):
    """What a CoOp-family host with DePT saves under ``PromptLearner/``: the head beside the
    prompt learner it was trained with, under the reference's keys (``prompt_learner.*``,
    ``film_lp_*``, ``linear_probe_proj.*``; the reference also saves the frozen CLIP), so the
    reference loads the folder as its own. The host's own folder is saved as well."""

    def __init__(self, prompt_learner: nn.Module, head: ChannelAdjustedHead):
        super().__init__()
        self.prompt_learner = prompt_learner
        self.film_lp_img, self.film_lp_text = head.film_lp_img, head.film_lp_text
        self.linear_probe_proj = head.linear_probe_proj


def similarity_logits(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's logits of raw features: scale * cos(image, class text), text [C, d] or [B, C, d]."""
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    if text_features.dim() == 3:
        return logit_scale.exp() * torch.einsum("bd,bcd->bc", image_features, text_features)
    return logit_scale.exp() * image_features @ text_features.t()


def fused_logits(host_logits: torch.Tensor, head_logits: torch.Tensor, weight: float) -> torch.Tensor:
    """DePT's base-class prediction: (1 - weight) * host + weight * head."""
    return (1 - weight) * host_logits + weight * head_logits


def decoupled_loss(host_loss: torch.Tensor, similarity: torch.Tensor, labels: torch.Tensor,
                   head_logits: torch.Tensor, head_labels: torch.Tensor, weight: float
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(the loss, the head's cross-entropy): ``weight`` x the host's cross-entropy moved to the head's."""
    head_ce = F.cross_entropy(head_logits, head_labels)
    return host_loss + weight * (head_ce - F.cross_entropy(similarity, labels)), head_ce


# ---------------------------------------------------------------------------------------------
# The plug-in
# ---------------------------------------------------------------------------------------------
class DecoupledPromptTuning:
    """Mixin: DePT's channel-adjusted head beside the host's prompts (module docstring).

    Needs from the host: ``self.model.image_encoder`` and ``self.model.text_features_out`` (raw
    features, read with forward hooks during the host's own pass) and logits that are CLIP's
    scaled cosine similarity of them. At ``LINEAR_PROBE.WEIGHT`` 0 the loss, the update, the log
    and the predictions are exactly the host's.
    """

    needs = ("clip_features",)

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        probe = cfg.TRAINER.LINEAR_PROBE
        if probe.TYPE not in HEAD_TYPES:
            raise ValueError(f"TRAINER.LINEAR_PROBE.TYPE must be 'linear' (DePT's head; 'similarity' is not supported), got {probe.TYPE!r}")
        if not 0 <= probe.WEIGHT <= 1:
            raise ValueError(f"TRAINER.LINEAR_PROBE.WEIGHT must be between 0 and 1 (DePT uses 0.7), got {probe.WEIGHT}")
        if cfg.OPTIM.LR_EXP <= 0:
            raise ValueError(f"OPTIM.LR_EXP must be > 0 (DePT uses 6.5), got {cfg.OPTIM.LR_EXP}")

    def head_classifies(self, cfg=None) -> bool:
        """Whether these classes are the head's (the reference's rule): the base classes, or all
        classes of an ImageNet dataset (the cross-dataset source)."""
        cfg = cfg or self.cfg
        subsample = cfg.DATASET.SUBSAMPLE_CLASSES
        return subsample == "base" or (subsample == "all" and "ImageNet" in cfg.DATASET.NAME)

    @property
    def frozen_image_tower(self) -> bool:
        # The feature cache holds unit-norm image features; the head reads raw ones.
        return super().frozen_image_tower and not self.head_classifies()

    def build_model(self) -> None:
        super().build_model()
        cfg = self.cfg
        dim = self.model.text_encoder.text_projection.shape[1]
        n_classes = len(self.dm.dataset.classnames) if self.head_classifies() else None
        print(f"Building DePT's channel-adjusted head ({'over ' + str(n_classes) + ' classes' if n_classes else 'unused on these classes'})")
        self.head = ChannelAdjustedHead(dim, n_classes, cfg.TRAINER.FILM.LINEAR_PROBE, self.model.dtype).to(self.device)
        head_optim = cfg.OPTIM.clone()
        head_optim.defrost()
        head_optim.LR = cfg.OPTIM.LR * cfg.OPTIM.LR_EXP
        optim = build_optimizer(self.head, head_optim)
        if self.learned_module() is self.model.prompt_learner:  # CoOp, CoCoOp, KgCoOp: the reference's folder
            self.head_model_name, saved = REFERENCE_MODEL_NAME, ReferenceHeadCheckpoint(self.model.prompt_learner, self.head)
        else:  # the reference saves a deep-prompting host's head in the host's folder, which is the host's here
            self.head_model_name, saved = HEAD_MODEL_NAME, self.head
        self.register_model(self.head_model_name, saved, optim, build_lr_scheduler(optim, head_optim))

    # ---- training ------------------------------------------------------------------------

    def compute_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        weight = self.cfg.TRAINER.LINEAR_PROBE.WEIGHT
        if weight == 0:
            return super().compute_loss(batch)
        if self.head.linear_probe_proj is None:
            raise ValueError(
                "DePT trains its head on the base classes: set DATASET.SUBSAMPLE_CLASSES base "
                "(or train on ImageNet's classes for cross-dataset runs)"
            )
        with captured_outputs(self.model.image_encoder) as images, captured_outputs(self.model.text_features_out) as texts:
            host_loss, summary = super().compute_loss(batch)
        _, labels = self.parse_batch_train(batch)
        image_features = images[0]  # the host's first image pass is the prompted one
        text_features = class_text_features(texts, image_features.shape[0], self.head.linear_probe_proj.out_features)
        similarity = similarity_logits(image_features, text_features, self.model.logit_scale)
        head_logits, head_labels = self.head.training_logits(image_features, text_features, labels)
        loss, head_ce = decoupled_loss(host_loss, similarity, labels, head_logits, head_labels, weight)
        # Logged as PLPP logs: the host's terms (its loss as "ce" when that is all it has), then the head's.
        terms = {key: value for key, value in summary.items() if key != "acc"} or {"ce": host_loss.item()}
        terms["head_ce"] = head_ce.item()
        if "acc" in summary:
            terms["acc"] = summary["acc"]
        return loss, terms

    def optimizer_step(self, loss: torch.Tensor) -> None:
        """Both optimisers step; under amp one gradient scaler serves both."""
        if self.scaler is None:
            return super().optimizer_step(loss)
        self.detect_anomaly(loss)
        for name in self.get_model_names():
            self._optims[name].zero_grad()
        self.scaler.scale(loss).backward()
        for name in self.get_model_names():
            self.scaler.step(self._optims[name])
        self.scaler.update()

    # ---- evaluation ----------------------------------------------------------------------

    def model_inference(self, image):
        probe = self.cfg.TRAINER.LINEAR_PROBE
        if not self.head_classifies() or (probe.WEIGHT == 0 and probe.TEST_TIME_FUSION):
            return super().model_inference(image)
        with captured_outputs(self.model.image_encoder) as images:
            host_logits = super().model_inference(image)
        with self.autocast():
            head_logits = self.head(images[0])
        return fused_logits(host_logits, head_logits, probe.WEIGHT) if probe.TEST_TIME_FUSION else head_logits

    def load_model(self, directory, epoch=None):
        """Our layout (the host's folder and the head's), or the reference's: one folder with
        everything, ``PromptLearner/`` (CoOp, CoCoOp, KgCoOp) or the host's (MaPLe)."""
        if directory and any(not os.path.isdir(os.path.join(directory, name)) for name in self.get_model_names()):
            for folder in (REFERENCE_MODEL_NAME, self.model_name):
                if os.path.isdir(os.path.join(directory, folder)):
                    with reference_checkpoint_layout(self, os.path.join(directory, folder), epoch) as own_directory:
                        return super().load_model(own_directory, epoch)
        return super().load_model(directory, epoch)  # our layout, or says what is missing


def class_text_features(outputs: List[torch.Tensor], batch_size: int, n_classes: int) -> torch.Tensor:
    """The host's raw class text features as they passed its ``text_features_out``: [C, d], or
    [B, C, d] when each image has its own (CoCoOp)."""
    features = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    if features.shape[0] == n_classes or features.shape[:2] == (batch_size, n_classes):
        return features
    raise RuntimeError(f"DePT read {features.shape[0]} text features from the host's pass; expected {n_classes} classes "
                       f"or {batch_size} x {n_classes}: this host does not offer its class text features")


@contextlib.contextmanager
def reference_checkpoint_layout(trainer, folder: str, epoch: Optional[int]) -> Iterator[str]:
    """A Koorye/DePT model folder (its whole CLIP, head included) as this trainer's folders, in a
    temporary directory: the host's keys under the host's model name, the head's under the
    head's."""
    import tempfile

    from dassl.utils import load_checkpoint

    model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
    path = os.path.join(folder, model_file)
    if not os.path.exists(path):
        raise FileNotFoundError(f'Model not found at "{path}"; check --model-dir and --load-epoch')
    checkpoint = load_checkpoint(path)
    state = checkpoint["state_dict"]
    head_prefixes = HEAD_PREFIXES
    if not any(key.startswith(head_prefixes) for key in state):
        raise ValueError(f"{path} holds no DePT head (film_lp_*, linear_probe_proj.*) and there is no {trainer.head_model_name}/ "
                         f"beside it: a {trainer.model_name} checkpoint of the host alone? Evaluate it with the host's trainer")
    host_name = trainer.model_name
    strip = "prompt_learner." if trainer.learned_module() is trainer.model.prompt_learner else ""
    parts = {
        trainer.head_model_name: {k: v for k, v in state.items() if k.startswith(head_prefixes)},
        host_name: {k[len(strip):]: v for k, v in state.items() if k.startswith(strip) and not k.startswith(head_prefixes)},
    }
    with tempfile.TemporaryDirectory() as own_directory:
        for name, part in parts.items():
            os.makedirs(os.path.join(own_directory, name))
            torch.save({**checkpoint, "state_dict": part}, os.path.join(own_directory, name, model_file))
        yield own_directory
