"""CoOp: Context Optimization (Zhou et al., "Learning to Prompt for Vision-Language Models",
IJCV 2022, arXiv 2109.01134).

A prompt "[SOS] p_1 ... p_M [class name] . [EOS]" whose M context vectors are learned while CLIP
stays frozen. Class and attribute names follow the reference implementation, so checkpoints
(``prompt_learner/model.pth.tar-<E>`` holding ``ctx``, ``token_prefix``, ``token_suffix``) move
both ways between this repository and KaiyangZhou/CoOp.

Faster than the reference, with the same logits up to rounding: text sequences are trimmed to
the longest EOT position, evaluation encodes the prompts once instead of once per batch, and
``PREC`` amp/bf16 use autocast on CUDA with an fp32 context.
"""
import contextlib
from typing import Iterator, Optional

import torch
import torch.nn as nn
from torch.nn import functional as F

from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_pretrained_weights

from .prompting import (
    PRECISIONS,
    TextEncoder,
    autocast,
    clip,
    effective_precision,
    load_clip_to_cpu,
    load_prompt_checkpoints,
    readable_classnames,
    tokenizer,
)

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")


def extend_cfg(cfg) -> None:
    """Add CoOp's config node ``TRAINER.COOP`` (the reference defaults)."""
    from yacs.config import CfgNode as CN

    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialization words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32, amp or bf16
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


class PromptLearner(nn.Module):
    """The learnable context and the frozen token embeddings around it, per class."""

    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        n_cls = len(classnames)
        n_ctx = cfg.TRAINER.COOP.N_CTX
        ctx_init = cfg.TRAINER.COOP.CTX_INIT
        dtype = clip_model.dtype
        ctx_dim = clip_model.ln_final.weight.shape[0]
        clip_imsize = clip_model.visual.input_resolution
        if cfg.INPUT.SIZE[0] != clip_imsize:
            raise ValueError(f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} must match CLIP's input resolution {clip_imsize}")

        if ctx_init:
            # The context starts as the embeddings of the given words; their count sets n_ctx.
            ctx_init = ctx_init.replace("_", " ")
            n_ctx = len(ctx_init.split(" "))
            with torch.no_grad():
                embedding = clip_model.token_embedding(clip.tokenize(ctx_init)).type(dtype)
            ctx_vectors = embedding[0, 1 : 1 + n_ctx, :]
            prompt_prefix = ctx_init
        else:
            if cfg.TRAINER.COOP.CSC:
                print("Initializing class-specific contexts")
                ctx_vectors = torch.empty(n_cls, n_ctx, ctx_dim, dtype=dtype)
            else:
                print("Initializing a generic context")
                ctx_vectors = torch.empty(n_ctx, ctx_dim, dtype=dtype)
            nn.init.normal_(ctx_vectors, std=0.02)
            prompt_prefix = " ".join(["X"] * n_ctx)

        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)

        classnames = readable_classnames(classnames)
        tokenized_prompts = clip.tokenize([f"{prompt_prefix} {name}." for name in classnames])
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenized_prompts).type(dtype)

        # Saved with the checkpoint (the reference format) but skipped when loading, so that a
        # prompt trained on some classes can be evaluated on others.
        self.register_buffer("token_prefix", embedding[:, :1, :])  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :, :])  # class name, ".", EOS

        self.n_cls = n_cls
        self.n_ctx = n_ctx
        self.tokenized_prompts = tokenized_prompts
        self.name_lens = [len(tokenizer.encode(name)) for name in classnames]
        self.class_token_position = cfg.TRAINER.COOP.CLASS_TOKEN_POSITION

    def forward(self) -> torch.Tensor:
        """Prompt embeddings [n_cls, 77, d] with the class name at ``class_token_position``."""
        ctx = self.ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prefix, suffix = self.token_prefix, self.token_suffix

        if self.class_token_position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)

        prompts = []
        for i, name_len in enumerate(self.name_lens):
            name, rest = suffix[i : i + 1, :name_len], suffix[i : i + 1, name_len:]
            if self.class_token_position == "middle":
                half = self.n_ctx // 2
                parts = [prefix[i : i + 1], ctx[i : i + 1, :half], name, ctx[i : i + 1, half:], rest]
            elif self.class_token_position == "front":
                parts = [prefix[i : i + 1], name, ctx[i : i + 1], rest]
            else:
                raise ValueError(f"CLASS_TOKEN_POSITION must be one of {CLASS_TOKEN_POSITIONS}")
            prompts.append(torch.cat(parts, dim=1))
        return torch.cat(prompts, dim=0)


class CustomCLIP(nn.Module):
    """CLIP whose class text features come from the learned prompts."""

    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.tokenized_prompts = self.prompt_learner.tokenized_prompts
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype
        self.fixed_text_features: Optional[torch.Tensor] = None

    def encode_text(self) -> torch.Tensor:
        """Unit-norm text features of every class prompt [n_cls, embed_dim]."""
        text_features = self.text_encoder(self.prompt_learner(), self.tokenized_prompts)
        return text_features / text_features.norm(dim=-1, keepdim=True)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image_features = self.image_encoder(image.type(self.dtype))
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = self.encode_text() if self.fixed_text_features is None else self.fixed_text_features
        return self.logit_scale.exp() * image_features @ text_features.t()

    @contextlib.contextmanager
    def text_features_fixed(self) -> Iterator[None]:
        """Encode the prompts once and reuse the features until the block ends (evaluation)."""
        with torch.no_grad():
            self.fixed_text_features = self.encode_text()
        try:
            yield
        finally:
            self.fixed_text_features = None


@TRAINER_REGISTRY.register()
class CoOp(TrainerX):
    """Context Optimization (CoOp), https://arxiv.org/abs/2109.01134."""

    def check_cfg(self, cfg):
        if cfg.TRAINER.COOP.PREC not in PRECISIONS:
            raise ValueError(f"TRAINER.COOP.PREC must be one of {', '.join(PRECISIONS)}, got {cfg.TRAINER.COOP.PREC!r}")
        if cfg.TRAINER.COOP.CLASS_TOKEN_POSITION not in CLASS_TOKEN_POSITIONS:
            raise ValueError(
                f"TRAINER.COOP.CLASS_TOKEN_POSITION must be one of {', '.join(CLASS_TOKEN_POSITIONS)}, "
                f"got {cfg.TRAINER.COOP.CLASS_TOKEN_POSITION!r}"
            )

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        self.precision = effective_precision(cfg.TRAINER.COOP.PREC, self.device)

        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip_to_cpu(cfg)
        if self.precision != "fp16":
            clip_model.float()  # the released weights are fp16

        print("Building custom CLIP")
        self.model = CustomCLIP(cfg, classnames, clip_model)

        print("Turning off gradients in both the image and the text encoder")
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)

        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.model.prompt_learner, cfg.MODEL.INIT_WEIGHTS)

        self.model.to(self.device)
        # Only the prompt learner is optimised and checkpointed.
        self.optim = build_optimizer(self.model.prompt_learner, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "amp" else None

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        with autocast(self.precision, self.device):
            output = self.model(image)
            loss = F.cross_entropy(output, label)
        self.backward_and_update(loss)

        loss_summary = {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return loss_summary

    def backward_and_update(self, loss: torch.Tensor) -> None:
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

    def model_inference(self, image):
        with autocast(self.precision, self.device):
            return self.model(image)

    def test(self, split=None):
        """Evaluate with the prompts encoded once, since they do not change during evaluation."""
        with autocast(self.precision, self.device), self.model.text_features_fixed():
            return super().test(split)

    def load_model(self, directory, epoch=None):
        load_prompt_checkpoints(self, directory, epoch)
