"""MaPLe: Multi-modal Prompt Learning (Khattak et al., CVPR 2023, arXiv 2210.03117).

Prompts in both towers, coupled: the text branch learns a first-layer context of N_CTX tokens
(initialised from CTX_INIT) and deep text prompts for blocks 1 .. PROMPT_DEPTH-1; the vision
prompts of every level are linear projections of the text prompts of that level (the coupling
functions ``proj`` and ``compound_prompt_projections``), so the two towers' prompts are learned
together. PROMPT_DEPTH 1 is shallow MaPLe (first-layer prompts only).

As the reference (muzairkhattak/multimodal-prompt-learning, ``trainers/maple.py``), on the
unmodified CLIP package (``trainers/deep_prompting.py``), with the same parameter names, the same
initialisation order and the registered model ``MultiModalPromptLearner``: checkpoints move both
ways (``prompt_learner.ctx``, ``proj``, ``compound_prompts_text.*``,
``compound_prompt_projections.*``; the frozen CLIP weights the reference also saves are not
written, and ignored when loading its files). Except:

- widths come from the loaded CLIP (the reference hard-codes 512 and 768, i.e. ViT-B/16); a
  ResNet backbone, or a PROMPT_DEPTH beyond the number of blocks, is refused with one line;
- ``proj`` is in CLIP's precision (the reference makes it fp16 always, so fp32 runs fail there);
  prompts enter the towers in the tower's precision (the reference rounds them to fp16 always);
- text sequences are trimmed to the longest EOT position, and evaluation builds the prompts and
  the class text features once instead of once per batch.

``MaPLe_PLPP`` (made in trainers/plugins.py) adds PLPP's perplexity regulariser on the first-layer text context: the only
prompt in the token-embedding space (the deeper prompts and the vision prompts are not words).
"""
import copy
from typing import List

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from dassl.engine import TRAINER_REGISTRY

from .deep_prompting import (DeepPromptLearner, DeepPrompts, DeepPromptTrainer, check_depth,
                             random_prompts, text_width, vision_width)


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.MAPLE``: the reference's keys and defaults."""
    cfg.TRAINER.MAPLE = CN()
    cfg.TRAINER.MAPLE.N_CTX = 2  # context tokens per prompt, text and vision
    cfg.TRAINER.MAPLE.CTX_INIT = "a photo of a"  # the prompt's words; the first N_CTX are learned (N_CTX <= 4)
    cfg.TRAINER.MAPLE.PREC = "fp16"  # fp16, fp32, amp or bf16
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = 9  # blocks that get prompts (1: first layer only)


class MultiModalPromptLearner(DeepPromptLearner):
    """The text prompts of every level and the projections that make the vision prompts."""

    def __init__(self, cfg, classnames, clip_model):
        maple = cfg.TRAINER.MAPLE
        check_depth("TRAINER.MAPLE.PROMPT_DEPTH", maple.PROMPT_DEPTH, 1, clip_model)
        print("MaPLe design: Multi-modal Prompt Learning")
        super().__init__(clip_model, classnames, maple.N_CTX, maple.CTX_INIT)
        d_text, d_vision = text_width(clip_model), vision_width(clip_model)
        # Drawn in the reference's order, so that the same seed gives the same prompts.
        self.proj = nn.Linear(d_text, d_vision).to(clip_model.dtype)
        self.compound_prompts_depth = maple.PROMPT_DEPTH
        self.compound_prompts_text = random_prompts(maple.PROMPT_DEPTH - 1, self.n_ctx, d_text)
        coupling = nn.Linear(d_text, d_vision)  # every level starts from the same projection
        self.compound_prompt_projections = nn.ModuleList(copy.deepcopy(coupling) for _ in range(maple.PROMPT_DEPTH - 1))

    def forward(self) -> DeepPrompts:
        text_deep: List[torch.Tensor] = list(self.compound_prompts_text)
        vision_deep = [project(prompt) for project, prompt in zip(self.compound_prompt_projections, text_deep)]
        return DeepPrompts(self.text_prompts(), text_deep, self.proj(self.ctx), vision_deep)


@TRAINER_REGISTRY.register()
class MaPLe(DeepPromptTrainer):
    """Multi-modal Prompt Learning (MaPLe), https://arxiv.org/abs/2210.03117."""

    config_node = "MAPLE"
    model_name = "MultiModalPromptLearner"

    def build_prompt_learner(self, cfg, classnames, clip_model):
        return MultiModalPromptLearner(cfg, classnames, clip_model)
