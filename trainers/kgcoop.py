"""KgCoOp: Knowledge-guided Context Optimization (Yao, Zhang and Xu, "Visual-Language Prompt
Tuning with Knowledge-guided Context Optimization", CVPR 2023, arXiv 2303.13283).

CoOp's prompt, trained with a penalty that keeps each class's learned text feature w_i near the
feature w_i^clip that frozen CLIP gives the dataset's hand-written prompt of that class:

    L = CE + W * (1 - (1/C) sum_i cos(w_i, w_i^clip))

The paper writes the penalty as the mean squared distance of the unit features,
||w_i - w_i^clip||^2 = 2 (1 - cos): the reference code's form, ours, is half of it. ``W`` is
``TRAINER.KGCOOP.W``: its default is the reference's config default, 1.0; the reference's
scripts, which produced its published numbers, pass 8.0, and so do ours (scripts/kgcoop/).

As the reference (htyao89/KgCoOp, ``KgCoOp/trainers/kgcoop.py``), except:

- the config node is ``TRAINER.KGCOOP`` (the reference keeps KgCoOp's keys, W included, in the
  ``TRAINER.COOP`` node it shares with CoOp); ``CTX_INIT: True`` means the words "a photo of a",
  whatever the dataset, as there;
- the hand-written prompts' features are computed once, with the run's CLIP on the training
  device in the run's precision; the reference loads CLIP a second time for them and leaves that
  copy in fp16, also in fp32 runs (in fp16 runs the two agree);
- ``CLASS_TOKEN_POSITION`` middle and front work as in CoOp; the reference reads the key but
  always puts the class name at the end (the default, and what its scripts pass);
- ``PREC amp`` trains with the penalty (the reference's amp branch cannot run: its model returns
  a pair); the penalty is computed in fp32;
- the reference's prompt learner also holds parameters it never uses or trains (``bias_vectors``,
  ``meta_net``), and its CLIP an unused ``adapter``: not built here. Loading a reference
  checkpoint ignores their keys; a checkpoint written here loads in the reference (it loads with
  ``strict=False``). Both hold CoOp's ``ctx``, ``token_prefix``, ``token_suffix``.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from dassl.engine import TRAINER_REGISTRY
from dassl.metrics import compute_accuracy
from runtime.catalogue import zero_shot_template

from .backbone import encode_class_prompts
from .coop import CLASS_TOKEN_POSITIONS, CoOp, CustomCLIP
from .plpp import CoOpContext
from .prompting import PromptTrainer

INIT_WORDS = "a photo of a"  # what CTX_INIT True stands for in the reference

# KgCoOp's hand-written prompts are zero-shot CLIP's (the dataset catalogue's) except for these.
HAND_WRITTEN_TEMPLATES = {"DescribableTextures": "a photo of a {}, a type of texture."}


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.KGCOOP``: the reference's KgCoOp keys and defaults."""
    cfg.TRAINER.KGCOOP = CN()
    cfg.TRAINER.KGCOOP.N_CTX = 16  # number of context vectors (when CTX_INIT is False)
    cfg.TRAINER.KGCOOP.CSC = False  # class-specific context (when CTX_INIT is False)
    cfg.TRAINER.KGCOOP.CTX_INIT = False  # True: start from the words "a photo of a" (4 vectors)
    cfg.TRAINER.KGCOOP.W = 1.0  # weight of the knowledge-guided penalty (the reference's scripts: 8.0)
    cfg.TRAINER.KGCOOP.PREC = "fp16"  # fp16, fp32, amp or bf16
    cfg.TRAINER.KGCOOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


def hand_written_template(dataset_name: str) -> str:
    """The prompt whose class features KgCoOp's learned ones are kept near, "{}" for the class."""
    return HAND_WRITTEN_TEMPLATES.get(dataset_name) or zero_shot_template(dataset_name)


def coop_prompt_cfg(cfg) -> CN:
    """``cfg`` with ``TRAINER.COOP`` holding KgCoOp's prompt settings: what CoOp's prompt learner
    reads, so KgCoOp builds exactly CoOp's prompt from its own node."""
    kgcoop = cfg.TRAINER.KGCOOP
    view = cfg.clone()
    view.defrost()
    view.TRAINER.COOP = CN({
        "N_CTX": kgcoop.N_CTX,
        "CSC": kgcoop.CSC,
        "CTX_INIT": INIT_WORDS if kgcoop.CTX_INIT else "",
        "CLASS_TOKEN_POSITION": kgcoop.CLASS_TOKEN_POSITION,
    })
    return view


def knowledge_distance(text_features: torch.Tensor, hand_written_features: torch.Tensor) -> torch.Tensor:
    """KgCoOp's penalty, 1 - mean_i cos(w_i, w_i^clip), over the classes' features [C, D] (fp32)."""
    cos = F.cosine_similarity(text_features.float(), hand_written_features.float(), dim=1, eps=1e-7)
    return 1.0 - cos.mean()


class KnowledgeGuidedCLIP(CustomCLIP):
    """CoOp's CLIP, holding the class features of the hand-written prompt to stay near."""

    def __init__(self, cfg, classnames, clip_model, device: torch.device = torch.device("cpu")):
        super().__init__(coop_prompt_cfg(cfg), classnames, clip_model)
        template = hand_written_template(cfg.DATASET.NAME)
        print(f'Hand-written prompt: "{template}"')
        # Computed once, on the device that trains: CLIP is frozen, so they cannot change. Not
        # saved with the checkpoint (the reference does not save them either).
        features = encode_class_prompts(clip_model.to(device), classnames, [template])
        self.register_buffer("hand_written_features", features, persistent=False)

    def forward_with_distance(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """CoOp's logits and the knowledge-guided distance, from one pass of the text encoder."""
        text_features = self.encode_text()
        logits = self.logit_scale.exp() * self.encode_image(image) @ text_features.t()
        return logits, knowledge_distance(text_features, self.hand_written_features)


@TRAINER_REGISTRY.register()
class KgCoOp(PromptTrainer):
    """Knowledge-guided Context Optimization (KgCoOp), https://arxiv.org/abs/2303.13283."""

    config_node = "KGCOOP"
    frozen_image_tower = True  # CoOp's text-only prompt: evaluation reuses cached image features
    evaluation_context = CoOp.evaluation_context  # CoOp's prompts: encode them once per evaluation

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        kgcoop = cfg.TRAINER.KGCOOP
        if kgcoop.CLASS_TOKEN_POSITION not in CLASS_TOKEN_POSITIONS:
            raise ValueError(
                f"TRAINER.KGCOOP.CLASS_TOKEN_POSITION must be one of {', '.join(CLASS_TOKEN_POSITIONS)}, "
                f"got {kgcoop.CLASS_TOKEN_POSITION!r}"
            )
        if kgcoop.W < 0:
            raise ValueError(f"TRAINER.KGCOOP.W must be >= 0 (the reference's scripts use 8.0), got {kgcoop.W}")

    def build_clip(self, cfg, classnames, clip_model):
        return KnowledgeGuidedCLIP(cfg, classnames, clip_model, self.device)

    def compute_loss(self, batch):
        image, label = self.parse_batch_train(batch)
        logits, distance = self.model.forward_with_distance(image)
        ce = F.cross_entropy(logits, label)
        loss = ce + self.cfg.TRAINER.KGCOOP.W * distance
        return loss, {"ce": ce.item(), "kg": distance.item(), "acc": compute_accuracy(logits, label)[0].item()}

    @classmethod
    def plugin_hooks(cls):
        return {"context": CoOpContext}  # KgCoOp's prompt is CoOp's
