"""Parts every CoOp-family prompt learner shares, parameterised by the method's own config node
(``cfg.TRAINER.<NODE>``, e.g. ``TRAINER.COOP`` or ``TRAINER.COCOOP``):

- context initialisation from words or at random, and the class-name prompt tokens around it;
- precision: CoOp-family ``PREC`` values, the autocast that goes with them, the gradient scaler;
- ``PromptTrainer``: CLIP loaded and frozen except the prompt learner, the optimiser, one training
  step, evaluation, and checkpoint loading that skips the frozen class-name embeddings (so a prompt
  trained on base classes evaluates on new ones).

A method file then holds only what makes the method different: its config node, its prompt
learner and how CLIP uses it, and its loss when that is not CLIP's cross-entropy.
"""
import contextlib
import functools
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.nn import functional as F

from dassl.engine import TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint, load_pretrained_weights

from .backbone import CLIP, count_tokens, load_clip_to_cpu, readable_classnames, tokenize
from .feature_cache import cached_image_features
from .open_clip_backbone import prepare_backbone

PRECISIONS = ("fp16", "fp32", "amp", "bf16")
CPU_FP16_ENV = "PLPP_CPU_FP16"  # "1": PREC fp16 runs in half precision on the CPU too


# ---------------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------------
def effective_precision(prec: str, device: torch.device) -> str:
    """The precision actually used for ``TRAINER.<METHOD>.PREC`` on ``device``.

    fp16 weights and autocast are GPU features: on the CPU every setting runs in fp32, except
    fp16 with ``PLPP_CPU_FP16=1`` where torch has half-precision CPU kernels (slow; it is how the
    tests check the GPU default without a GPU).
    """
    if prec not in PRECISIONS:
        raise ValueError(f"PREC must be one of {', '.join(PRECISIONS)}, got {prec!r}")
    if device.type != "cuda" and prec != "fp32":
        if prec == "fp16" and os.environ.get(CPU_FP16_ENV) == "1":
            if cpu_has_half_kernels():
                print(f"Note: PREC fp16 on the {device.type.upper()} ({CPU_FP16_ENV}=1): half-precision weights, slow")
                return "fp16"
            print(f"Note: this torch has no half-precision CPU kernels; {CPU_FP16_ENV}=1 is ignored")
        print(f"Note: PREC {prec} needs a GPU; running in fp32 on the {device.type.upper()}")
        return "fp32"
    return prec


@functools.lru_cache(maxsize=None)
def cpu_has_half_kernels() -> bool:
    """Whether this torch trains CLIP's layers in fp16 on the CPU (older versions lack kernels)."""
    try:
        x = torch.randn(2, 3, 4, 4).half().requires_grad_()
        h = F.conv2d(x, torch.randn(8, 3, 2, 2).half(), stride=2).flatten(2).transpose(1, 2)  # [2, 4, 8]
        h = F.layer_norm(h.float(), (8,)).half()
        h = F.scaled_dot_product_attention(h, h, h).mean(1)
        F.cross_entropy(F.linear(h, torch.randn(3, 8).half()), torch.zeros(2, dtype=torch.long)).backward()
    except RuntimeError:
        return False
    return bool(torch.isfinite(x.grad).all())


def autocast(prec: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision for "amp" (fp16) and "bf16" on CUDA; weights and the context stay fp32."""
    if device.type == "cuda" and prec in ("amp", "bf16"):
        return torch.autocast("cuda", dtype=torch.float16 if prec == "amp" else torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# Context and class-name prompts
# ---------------------------------------------------------------------------------------------
def initial_context(clip_model: CLIP, ctx_init: str, n_ctx: int, leading_shape: Tuple[int, ...] = ()
                    ) -> Tuple[torch.Tensor, str]:
    """The context vectors a prompt learner starts from, and the prompt text they stand for.

    With ``ctx_init`` words (e.g. "a photo of a"), the context is their token embeddings and the
    number of words sets the context length, as CoOp and CoCoOp do. Otherwise ``n_ctx`` vectors
    are drawn from N(0, 0.02^2), of shape ``leading_shape + (n_ctx, width)`` (CoOp's class-specific
    contexts pass ``(n_cls,)``), and the prompt text is "X X ... X".
    """
    if ctx_init:
        ctx_init = ctx_init.replace("_", " ")
        n_ctx = len(ctx_init.split(" "))
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenize(clip_model, ctx_init, for_prompt=True)).type(clip_model.dtype)
        return embedding[0, 1 : 1 + n_ctx, :], ctx_init
    width = clip_model.ln_final.weight.shape[0]
    ctx_vectors = torch.empty(*leading_shape, n_ctx, width, dtype=clip_model.dtype)
    nn.init.normal_(ctx_vectors, std=0.02)
    return ctx_vectors, " ".join(["X"] * n_ctx)


class ClassPrompts(NamedTuple):
    tokens: torch.Tensor  # token ids of "<prefix> <class name>." [n_cls, 77]
    embedding: torch.Tensor  # their frozen token embeddings [n_cls, 77, width]
    name_lens: List[int]  # tokens per class name


def class_prompts(clip_model: CLIP, prompt_prefix: str, classnames: Sequence[str]) -> ClassPrompts:
    """The prompt "<prompt_prefix> <class name>." of every class, tokenised and embedded."""
    names = readable_classnames(classnames)
    tokens = tokenize(clip_model, [f"{prompt_prefix} {name}." for name in names], for_prompt=True)
    with torch.no_grad():
        embedding = clip_model.token_embedding(tokens).type(clip_model.dtype)
    return ClassPrompts(tokens, embedding, [count_tokens(clip_model, name) for name in names])


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------
def load_prompt_checkpoints(trainer: TrainerX, directory: str, epoch: Optional[int] = None,
                            ignored_keys: Sequence[str] = ("token_prefix", "token_suffix")) -> None:
    """CoOp-family ``load_model``: load each registered model's weights from ``directory``.

    Reads ``<directory>/<name>/model.pth.tar-<epoch>`` (``model-best.pth.tar`` when ``epoch`` is
    None). Tensors whose key ends with one of ``ignored_keys`` (the frozen class-name embeddings)
    are skipped, so a model trained on base classes evaluates on new ones; every other tensor must
    match the model's shape.
    """
    if not directory:
        print("Note that load_model() is skipped as no pretrained model is given")
        return
    model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
    for name in trainer.get_model_names():
        model_path = os.path.join(directory, name, model_file)
        if not os.path.exists(model_path):
            folder = os.path.dirname(model_path)
            found = sorted(f for f in os.listdir(folder) if f.startswith("model")) if os.path.isdir(folder) else []
            raise FileNotFoundError(
                f'Model not found at "{model_path}" (found: {", ".join(found) or "nothing"}); '
                "check --model-dir and --load-epoch"
            )
        checkpoint = load_checkpoint(model_path)
        state_dict = {k: v for k, v in checkpoint["state_dict"].items() if not k.endswith(tuple(ignored_keys))}
        own_state = trainer._models[name].state_dict()
        for key, value in state_dict.items():
            if key in own_state and own_state[key].shape != value.shape:
                raise ValueError(
                    f"Checkpoint {model_path} has {key} of shape {list(value.shape)} but the model "
                    f"expects {list(own_state[key].shape)}: train and test with the same prompt settings "
                    "(N_CTX, CSC, CTX_INIT, prompt depth)"
                )
        print(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})')
        trainer._models[name].load_state_dict(state_dict, strict=False)


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------
class PromptTrainer(TrainerX):
    """What every CoOp-family trainer does the same way, around the method's own CLIP model.

    A method sets ``config_node`` and implements ``build_clip``; its loss defaults to CLIP's
    cross-entropy (``compute_loss``). Only parameters under ``prompt_learner`` are trained, and the
    registered model ``model_name`` (CoOp's "prompt_learner") is what checkpoints hold.
    """

    config_node = ""  # the method's node under cfg.TRAINER, e.g. "COOP"
    # True when the image tower is frozen and unprompted: evaluation then reuses cached image
    # features (trainers/feature_cache.py); the model must have encode_image() and logits().
    frozen_image_tower = False
    model_name = "prompt_learner"  # registered model name: the checkpoint sub-folder
    # What plug-ins may read (trainers/plugins.py): "clip_features", the model's image_encoder and
    # text_encoder give raw features whose scaled cosine similarity is the logits.
    plugin_offers: Tuple[str, ...] = ("clip_features",)

    @classmethod
    def plugin_hooks(cls) -> Dict[str, type]:
        """Needs this host meets with a mixin that its plug-in trainers put before the plug-in
        (trainers/plugins.py), e.g. {"context": how PLPP reads this host's context}."""
        return {}
    frozen_checkpoint_keys: Tuple[str, ...] = ("token_prefix", "token_suffix")  # never loaded

    def method_cfg(self, cfg=None):
        """The method's config node, ``cfg.TRAINER.<config_node>``."""
        return (cfg or self.cfg).TRAINER[self.config_node]

    def check_cfg(self, cfg) -> None:
        prec = self.method_cfg(cfg).PREC
        if prec not in PRECISIONS:
            raise ValueError(f"TRAINER.{self.config_node}.PREC must be one of {', '.join(PRECISIONS)}, got {prec!r}")

    # ---- building ------------------------------------------------------------------------

    def build_clip(self, cfg, classnames: Sequence[str], clip_model: CLIP) -> nn.Module:
        """The method's CLIP model (CoOp's ``CustomCLIP``), holding ``prompt_learner``."""
        raise NotImplementedError

    def learned_module(self) -> nn.Module:
        """The module that is optimised and registered (CoOp: the prompt learner)."""
        return self.model.prompt_learner

    def build_model(self) -> None:
        cfg = self.cfg
        self.precision = effective_precision(self.method_cfg().PREC, self.device)

        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip_to_cpu(cfg)
        prepare_backbone(self, clip_model)  # open_clip: refuse towers the method cannot use; fp16 weights
        if self.precision != "fp16":
            clip_model.float()  # the released weights are fp16
        resolution = clip_model.visual.input_resolution
        if cfg.INPUT.SIZE[0] != resolution:
            raise ValueError(f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} must match CLIP's input resolution {resolution}")
        self.clip_token_embedding = clip_model.token_embedding  # frozen; kept for regularisers, never saved

        print("Building custom CLIP")
        self.model = self.build_clip(cfg, self.dm.dataset.classnames, clip_model)

        print("Turning off gradients in both the image and the text encoder")
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)

        learned = self.learned_module()
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learned, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)
        self.optim = build_optimizer(learned, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(self.model_name, learned, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "amp" else None

    def token_embedding_weight(self) -> torch.Tensor:
        """CLIP's frozen token-embedding matrix [V, width] (for PLPP's labels and LM head)."""
        return self.clip_token_embedding.weight

    # ---- training ------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.precision, self.device)

    def compute_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        """The method's loss on one batch and what to log beside it (CLIP's cross-entropy here)."""
        image, label = self.parse_batch_train(batch)
        output = self.model(image)
        return F.cross_entropy(output, label), {"acc": compute_accuracy(output, label)[0].item()}

    def forward_backward(self, batch) -> Dict[str, float]:
        with self.autocast():
            loss, summary = self.compute_loss(batch)
        self.optimizer_step(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), **summary}

    def optimizer_step(self, loss: torch.Tensor) -> None:
        """One optimiser step; amp scales the loss against fp16 gradient underflow."""
        if self.scaler is None:
            self.model_backward_and_update(loss)
            return
        self.detect_anomaly(loss)
        self.optim.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optim)
        self.scaler.update()

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    # ---- evaluation ----------------------------------------------------------------------

    def evaluation_context(self) -> contextlib.AbstractContextManager:
        """Work done once per evaluation instead of once per batch (CoOp: encode the prompts)."""
        return contextlib.nullcontext()

    def model_inference(self, image):
        with self.autocast():
            return self.model(image)

    def image_tower(self) -> nn.Module:
        """The frozen image encoder whose weights key the feature cache."""
        return self.model.image_encoder

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Image features as the model's logits take them (what the feature cache stores)."""
        with self.autocast():
            return self.model.encode_image(images)

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model.logits(features)

    def test(self, split=None):
        with self.autocast(), self.evaluation_context(), cached_image_features(self):
            return super().test(split)

    def load_model(self, directory, epoch=None):
        load_prompt_checkpoints(self, directory, epoch, ignored_keys=self.frozen_checkpoint_keys)
