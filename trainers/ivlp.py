"""IVLP: Independent Vision-Language Prompting, the deep-prompting baseline of the MaPLe paper
(Khattak et al., CVPR 2023, arXiv 2210.03117, Table 1) and the prompt design PromptSRC builds on.

Prompts in both towers, learned independently: a first-layer text context of N_CTX_TEXT tokens
(initialised from CTX_INIT) and deep text prompts for blocks 1 .. PROMPT_DEPTH_TEXT-1; N_CTX_VISION
vision prompt tokens appended to the image tokens, with deep vision prompts for blocks
1 .. PROMPT_DEPTH_VISION-1 (PROMPT_DEPTH_VISION 0: no vision prompts, language-only prompting).

As the reference (muzairkhattak/multimodal-prompt-learning, ``trainers/independentVL.py``), on the
unmodified CLIP package (``trainers/deep_prompting.py``), registered as ``VLPromptLearner``. The
reference keeps the deep and vision prompts inside its forked encoders; here they live in the
prompt learner, and checkpoints carry them under the reference's keys
(``image_encoder.VPT``, ``image_encoder.transformer.resblocks.<k>.VPT_shallow``,
``text_encoder.transformer.resblocks.<k>.VPT_shallow``, ``prompt_learner.ctx``), so they move both
ways. Except: widths from the loaded CLIP, depths checked against its number of blocks, ResNets
refused with one line, prompts in the tower's precision (the reference rounds them to fp16),
trimmed text sequences and prompts built once per evaluation. The reference draws the vision and
deep prompts while it builds CLIP, so the same seed starts them from other (equally distributed)
values here; from the same starting prompts training is the same.

``IVLP_PLPP`` (made in trainers/plugins.py) adds PLPP's perplexity regulariser on the first-layer text context, as on MaPLe.
"""
from typing import Dict

import torch.nn as nn
from yacs.config import CfgNode as CN

from dassl.engine import TRAINER_REGISTRY

from .deep_prompting import (DeepPromptLearner, DeepPrompts, DeepPromptTrainer, check_depth,
                             random_prompts, text_width, vision_width)


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.IVLP``: the reference's keys and defaults."""
    cfg.TRAINER.IVLP = CN()
    cfg.TRAINER.IVLP.N_CTX_VISION = 2  # vision prompt tokens
    cfg.TRAINER.IVLP.N_CTX_TEXT = 2  # text context tokens
    cfg.TRAINER.IVLP.CTX_INIT = "a photo of a"  # the prompt's words; the first N_CTX_TEXT are learned (<= 4)
    cfg.TRAINER.IVLP.PREC = "fp16"  # fp16, fp32, amp or bf16
    cfg.TRAINER.IVLP.PROMPT_DEPTH_VISION = 9  # vision blocks that get prompts (0: none)
    cfg.TRAINER.IVLP.PROMPT_DEPTH_TEXT = 9  # text blocks that get prompts (1: first layer only)


class VLPromptLearner(DeepPromptLearner):
    """Independent text and vision prompts of every level.

    ``settings`` is the method's config node (IVLP's, or PromptSRC's, which has the same keys).
    """

    def __init__(self, settings: CN, classnames, clip_model, node: str = "IVLP"):
        check_depth(f"TRAINER.{node}.PROMPT_DEPTH_TEXT", settings.PROMPT_DEPTH_TEXT, 1, clip_model)
        check_depth(f"TRAINER.{node}.PROMPT_DEPTH_VISION", settings.PROMPT_DEPTH_VISION, 0, clip_model)
        print("Independent V-L design")
        super().__init__(clip_model, classnames, settings.N_CTX_TEXT, settings.CTX_INIT)
        vision_depth = settings.PROMPT_DEPTH_VISION if settings.N_CTX_VISION > 0 else 0
        print(f"Number of context words (tokens) for Vision prompting: {settings.N_CTX_VISION if vision_depth else 0}")
        vision = list(random_prompts(vision_depth, settings.N_CTX_VISION, vision_width(clip_model)))
        self.vision_ctx = vision[0] if vision else None  # appended to the image tokens
        self.deep_vision_prompts = nn.ParameterList(vision[1:])  # blocks 1 .. PROMPT_DEPTH_VISION-1
        self.deep_text_prompts = random_prompts(settings.PROMPT_DEPTH_TEXT - 1, self.n_ctx, text_width(clip_model))

    def forward(self) -> DeepPrompts:
        return DeepPrompts(self.text_prompts(), list(self.deep_text_prompts), self.vision_ctx, list(self.deep_vision_prompts))

    def reference_keys(self) -> Dict[str, str]:
        keys = {"vision_ctx": "image_encoder.VPT"} if self.vision_ctx is not None else {}
        for own, tower in (("deep_vision_prompts", "image_encoder"), ("deep_text_prompts", "text_encoder")):
            for i in range(len(getattr(self, own))):  # prompt i enters block i + 1
                keys[f"{own}.{i}"] = f"{tower}.transformer.resblocks.{i + 1}.VPT_shallow"
        return keys


@TRAINER_REGISTRY.register()
class IVLP(DeepPromptTrainer):
    """Independent Vision-Language Prompting (IVLP), the MaPLe paper's deep-prompting baseline."""

    config_node = "IVLP"
    model_name = "VLPromptLearner"

    def build_prompt_learner(self, cfg, classnames, clip_model):
        return VLPromptLearner(self.method_cfg(cfg), classnames, clip_model, self.config_node)
