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
from typing import Iterator, Optional, Tuple

import torch
import torch.nn as nn

from dassl.engine import TRAINER_REGISTRY

from .backbone import PromptedCLIP, load_clip_to_cpu  # noqa: F401  (load_clip_to_cpu: CoOp's public name)
from .prefix_encoding import common_prefix_length, encode_with_prefix, shared_prefix_enabled
from .prompting import PromptTrainer, class_prompts, initial_context

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
        coop = cfg.TRAINER.COOP
        n_cls = len(classnames)
        if not coop.CTX_INIT:
            print("Initializing class-specific contexts" if coop.CSC else "Initializing a generic context")
        ctx_vectors, prompt_prefix = initial_context(clip_model, coop.CTX_INIT, coop.N_CTX, (n_cls,) if coop.CSC else ())
        n_ctx = ctx_vectors.shape[-2]
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx_vectors)

        prompts = class_prompts(clip_model, prompt_prefix, classnames)
        # Saved with the checkpoint (the reference format) but skipped when loading, so that a
        # prompt trained on some classes can be evaluated on others.
        self.register_buffer("token_prefix", prompts.embedding[:, :1, :])  # SOS
        self.register_buffer("token_suffix", prompts.embedding[:, 1 + n_ctx :, :])  # class name, ".", EOS

        self.n_cls = n_cls
        self.n_ctx = n_ctx
        self.tokenized_prompts = prompts.tokens
        self.name_lens = prompts.name_lens
        self.class_token_position = coop.CLASS_TOKEN_POSITION

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

    def shared_prefix_length(self) -> int:
        """How many leading positions every class prompt shares (0: none, class-specific context):
        with the class name at the end, SOS, the context and any common words after it; in the
        middle, SOS and the first half of the context; in front, SOS."""
        if self.ctx.dim() == 3:
            return 0
        if self.class_token_position == "end":
            return common_prefix_length(self.tokenized_prompts)
        return 1 + self.n_ctx // 2 if self.class_token_position == "middle" else 1

    def split_prompts(self, length: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """The prompts as the shared prefix [1, length, d] and every class's rest [n_cls, 77 - length, d]."""
        if self.class_token_position == "end":
            fixed = length - 1 - self.n_ctx  # common words after the context
            prefix = torch.cat([self.token_prefix[:1], self.ctx.unsqueeze(0), self.token_suffix[:1, :fixed]], dim=1)
            return prefix, self.token_suffix[:, fixed:]
        prompts = self()
        return prompts[:1, :length], prompts[:, length:]


class CustomCLIP(PromptedCLIP):
    """CLIP whose class text features come from the learned prompts."""

    def __init__(self, cfg, classnames, clip_model):
        super().__init__(PromptLearner(cfg, classnames, clip_model), clip_model)
        self.fixed_text_features: Optional[torch.Tensor] = None
        # MODEL.SHARED_PREFIX: the positions all class prompts share are encoded once (0: never).
        self.prefix_length = self.prompt_learner.shared_prefix_length() if shared_prefix_enabled(cfg, clip_model) else 0
        self.suffix_eot = self.tokenized_prompts.argmax(dim=-1) - self.prefix_length

    def encode_text(self) -> torch.Tensor:
        """Unit-norm text features of every class prompt [n_cls, embed_dim]."""
        if self.prefix_length:
            prefix, suffix = self.prompt_learner.split_prompts(self.prefix_length)
            text_features = encode_with_prefix(self.text_encoder, prefix, suffix, self.suffix_eot)[0]
        else:
            text_features = self.text_encoder(self.prompt_learner(), self.tokenized_prompts)
        text_features = self.text_features_out(text_features)
        return text_features / text_features.norm(dim=-1, keepdim=True)

    def logits(self, image_features: torch.Tensor) -> torch.Tensor:
        """Logits [batch, n_cls] of unit-norm image features against the class prompts."""
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
class CoOp(PromptTrainer):
    """Context Optimization (CoOp), https://arxiv.org/abs/2109.01134."""

    config_node = "COOP"
    frozen_image_tower = True  # only the text side is prompted

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.COOP.CLASS_TOKEN_POSITION not in CLASS_TOKEN_POSITIONS:
            raise ValueError(
                f"TRAINER.COOP.CLASS_TOKEN_POSITION must be one of {', '.join(CLASS_TOKEN_POSITIONS)}, "
                f"got {cfg.TRAINER.COOP.CLASS_TOKEN_POSITION!r}"
            )

    def build_clip(self, cfg, classnames, clip_model):
        return CustomCLIP(cfg, classnames, clip_model)

    def evaluation_context(self):
        """The prompts do not change during evaluation: encode them once."""
        return self.model.text_features_fixed()

    @classmethod
    def plugin_hooks(cls):
        from .plpp import CoOpContext  # plpp.py builds on this module

        return {"context": CoOpContext}
