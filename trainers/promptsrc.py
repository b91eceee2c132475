"""PromptSRC: Prompting with Self-Regulating Constraints (Khattak, Wasim, Naseer, Khan, Yang and
Khan, "Self-regulating Prompts: Foundational Model Adaptation without Forgetting", ICCV 2023,
arXiv 2307.06948; code: muzairkhattak/PromptSRC).

IVLP's independent deep text and vision prompts, trained so that they do not forget what frozen
CLIP knows:

    L = CE + TEXT_LOSS_WEIGHT * |w - w_clip|_1 + IMAGE_LOSS_WEIGHT * |f - f_clip|_1
           + KL(softmax(z_clip) || softmax(z)) / numel(z)

- w, f, z: the prompted model's unit class text features, unit image features and logits;
- w_clip: frozen CLIP's class text features averaged over an ensemble of 60 hand-written
  templates ("textual diversity"), computed once; f_clip: frozen CLIP's image features of the
  same (augmented) image; z_clip = logit_scale * f_clip w_clip^T. Both L1 terms are means over
  all elements (F.l1_loss), the KL term a sum over the batch's logits divided by their count.
- Gaussian prompt aggregation (GPA): after epoch e (1-based) the prompts are added to a running
  sum with the weight N(e; GPA_MEAN, GPA_STD^2), the weights normalised over the run's epochs;
  after the last epoch the model takes the aggregate, which the last checkpoint holds and the
  final test evaluates.

As the reference (``trainers/promptsrc.py`` there), on IVLP's prompt learner (``trainers/ivlp.py``),
registered as ``VLPromptLearner``, except:

- frozen CLIP is the run's own towers without prompts, not two more copies of CLIP; the ensemble's
  features are computed at the first training step, once, with the run's CLIP in the run's
  precision (the reference: an fp32 copy, also in evaluation-only runs, which never use them);
- GPA sums the learned prompts only, in fp32, and the running sum (``gpa_sum``) is saved with
  every checkpoint, so a resumed run ends with the same aggregate; the reference sums its whole
  state dict (frozen CLIP and class-name tokens too, which rounds them by about one ulp) and,
  resumed, restarts the sum with shifted weights;
- prompts stay in the towers' precision (the reference rounds them to fp16, and its fp32 mode
  stops at its fp16 frozen image encoder); ``PREC amp`` trains with the full loss (the
  reference's amp branch cannot run: its model returns a tuple);
- checkpoints hold the prompts under the reference's keys plus ``gpa_sum``, not all of CLIP;
  either loads in the other (both load with ``strict=False``).
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from dassl.engine import TRAINER_REGISTRY
from dassl.metrics import compute_accuracy

from .backbone import encode_class_prompts
from .ivlp import IVLP

# PromptSRC's template ensemble: 60 of the 80 ImageNet templates of CLIP's prompt-engineering
# notebook, in the order the reference averages them.
ENSEMBLE_TEMPLATES = [
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.", "a bright photo of a {}.",
    "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.",
    "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.", "a close-up photo of a {}.",
    "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.", "a photo of the {}.",
    "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.",
    "a doodle of a {}.", "a close-up photo of the {}.", "the origami {}.", "the {} in a video game.",
    "a sketch of a {}.", "a doodle of the {}.", "a origami {}.", "a low resolution photo of a {}.",
    "the toy {}.", "a rendition of the {}.", "a photo of the clean {}.", "a photo of a large {}.",
    "a rendition of a {}.", "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.",
    "a cartoon {}.", "art of a {}.", "a sketch of the {}.", "a embroidered {}.",
    "a pixelated photo of a {}.", "itap of the {}.",
]


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.PROMPTSRC``: the reference's keys and defaults (its ``train.py``)."""
    cfg.TRAINER.PROMPTSRC = CN()
    cfg.TRAINER.PROMPTSRC.N_CTX_VISION = 4  # vision prompt tokens per prompted layer
    cfg.TRAINER.PROMPTSRC.N_CTX_TEXT = 4  # text prompt tokens per prompted layer
    cfg.TRAINER.PROMPTSRC.CTX_INIT = "a photo of a"  # first-layer text prompt's initial words
    cfg.TRAINER.PROMPTSRC.PREC = "fp16"  # fp16, fp32, amp or bf16
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = 9  # vision layers with prompts (1: first layer only)
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = 9  # text layers with prompts (1: first layer only)
    # The next four are integers, as in the reference (its config files write 25, 10, 15, 1).
    cfg.TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT = 25  # weight of the L1 text-feature constraint
    cfg.TRAINER.PROMPTSRC.IMAGE_LOSS_WEIGHT = 10  # weight of the L1 image-feature constraint
    cfg.TRAINER.PROMPTSRC.GPA_MEAN = 15  # GPA: mean epoch of the Gaussian (1-based)
    cfg.TRAINER.PROMPTSRC.GPA_STD = 1  # GPA: its standard deviation, in epochs


# ---------------------------------------------------------------------------------------------
# The self-regulating constraints: tensors in, losses out
# ---------------------------------------------------------------------------------------------
class SelfRegulatingTerms(NamedTuple):
    text: torch.Tensor  # mean |w - w_clip| over classes x dims (unweighted)
    image: torch.Tensor  # mean |f - f_clip| over batch x dims (unweighted)
    logits: torch.Tensor  # sum KL(p_clip || p) over the batch / numel(z)


def self_regulating_terms(logits: torch.Tensor, text_features: torch.Tensor, image_features: torch.Tensor,
                          frozen_logits: torch.Tensor, frozen_text_features: torch.Tensor,
                          frozen_image_features: torch.Tensor) -> SelfRegulatingTerms:
    """PromptSRC's three constraints towards frozen CLIP, in fp32 (features are unit-norm)."""
    text = F.l1_loss(text_features.float(), frozen_text_features.float())
    image = F.l1_loss(image_features.float(), frozen_image_features.float())
    kl = F.kl_div(F.log_softmax(logits.float(), dim=1), F.log_softmax(frozen_logits.float(), dim=1),
                  reduction="sum", log_target=True)
    return SelfRegulatingTerms(text, image, kl / logits.numel())


# ---------------------------------------------------------------------------------------------
# Gaussian prompt aggregation
# ---------------------------------------------------------------------------------------------
def gaussian_epoch_weights(max_epoch: int, mean: float, std: float) -> List[float]:
    """GPA's weight of each epoch 1..max_epoch: the N(mean, std^2) density there, normalised to
    sum to 1 over the run (so a mean beyond the last epoch weights the last epochs most)."""
    if std <= 0:
        raise ValueError(f"TRAINER.PROMPTSRC.GPA_STD must be > 0 (the reference's configs use 1, 10 or 30), got {std}")
    density = [math.exp(-0.5 * ((epoch - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
               for epoch in range(1, max_epoch + 1)]
    total = sum(density)
    if total == 0:
        raise ValueError(
            f"TRAINER.PROMPTSRC.GPA_MEAN {mean} with GPA_STD {std} gives every one of the {max_epoch} epochs "
            "zero weight: put the mean within a few deviations of 1..OPTIM.MAX_EPOCH"
        )
    return [d / total for d in density]


class GaussianPromptAggregation:
    """GPA over the parameters of ``module``: their running Gaussian-weighted sum, kept in fp32 as
    the module's buffer ``gpa_sum`` so that every checkpoint carries it and a resumed run goes on
    summing where it stopped (the reference restarts the sum and shifts the weights)."""

    def __init__(self, module: nn.Module, weights: Sequence[float]):
        self.module = module
        self.weights = list(weights)
        self.parameters = list(module.parameters())
        size = sum(p.numel() for p in self.parameters)
        module.register_buffer("gpa_sum", torch.zeros(size, device=self.parameters[0].device))

    def vector(self) -> torch.Tensor:
        """The parameters, flattened into one fp32 vector."""
        return torch.cat([p.detach().float().reshape(-1) for p in self.parameters])

    @torch.no_grad()
    def add(self, epoch: int) -> None:
        """Add the parameters after epoch index ``epoch`` (0-based) with that epoch's weight."""
        self.module.gpa_sum += self.weights[epoch] * self.vector()

    @torch.no_grad()
    def load(self) -> None:
        """Give the parameters the aggregate."""
        offset = 0
        for p in self.parameters:
            p.copy_(self.module.gpa_sum[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


# ---------------------------------------------------------------------------------------------
# The trainers
# ---------------------------------------------------------------------------------------------
@TRAINER_REGISTRY.register()
class PromptSRC(IVLP):
    """Prompting with Self-Regulating Constraints (PromptSRC), https://arxiv.org/abs/2307.06948.

    IVLP's prompt learner, read from ``TRAINER.PROMPTSRC`` (the same keys), registered as the
    reference does (``VLPromptLearner``), trained with PromptSRC's loss and GPA.
    """

    config_node = "PROMPTSRC"

    def check_cfg(self, cfg) -> None:
        super().check_cfg(cfg)
        settings = cfg.TRAINER.PROMPTSRC
        for key in ("TEXT_LOSS_WEIGHT", "IMAGE_LOSS_WEIGHT"):
            if settings[key] < 0:
                raise ValueError(f"TRAINER.PROMPTSRC.{key} must be >= 0 (the reference uses 25 and 10), got {settings[key]}")
        gaussian_epoch_weights(cfg.OPTIM.MAX_EPOCH, settings.GPA_MEAN, settings.GPA_STD)

    def build_clip(self, cfg, classnames, clip_model):
        self.frozen_clip = clip_model  # frozen CLIP's text tower, for the ensemble's features
        self.frozen_text_features: Optional[torch.Tensor] = None
        return super().build_clip(cfg, classnames, clip_model)

    def build_model(self) -> None:
        super().build_model()
        settings = self.method_cfg()
        weights = gaussian_epoch_weights(self.cfg.OPTIM.MAX_EPOCH, settings.GPA_MEAN, settings.GPA_STD)
        self.gpa = GaussianPromptAggregation(self.learned_module(), weights)

    def ensemble_text_features(self) -> torch.Tensor:
        """Frozen CLIP's unit class features of the template ensemble [n_cls, D]: the mean of the
        60 templates' raw features, normalised once, as the reference averages them."""
        clip_model = self.frozen_clip.to(self.device)
        print(f"Encoding the {len(ENSEMBLE_TEMPLATES)}-template ensemble with frozen CLIP (once)")
        return encode_class_prompts(clip_model, self.dm.dataset.classnames, ENSEMBLE_TEMPLATES, unit_per_template=False)

    def forward_backward(self, batch) -> Dict[str, float]:
        # Computed at the first training step, not when the model is built: an evaluation never
        # needs them. CLIP is frozen, so they cannot change afterwards.
        if self.frozen_text_features is None:
            self.frozen_text_features = self.ensemble_text_features()
        return super().forward_backward(batch)

    def compute_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        image, label = self.parse_batch_train(batch)
        model = self.model
        image_features, text_features = model.features(image)
        logits = model.logits(image_features, text_features)
        with torch.no_grad():
            frozen_image_features = model.encode_image(image)  # no prompts: frozen CLIP's
            frozen_logits = model.logits(frozen_image_features, self.frozen_text_features)
        terms = self_regulating_terms(logits, text_features, image_features,
                                      frozen_logits, self.frozen_text_features, frozen_image_features)
        settings = self.method_cfg()
        ce = F.cross_entropy(logits, label)
        loss = ce + terms.logits + settings.TEXT_LOSS_WEIGHT * terms.text + settings.IMAGE_LOSS_WEIGHT * terms.image
        return loss, {"ce": ce.item(), "scl_text": terms.text.item(), "scl_image": terms.image.item(),
                      "scl_logits": terms.logits.item(), "acc": compute_accuracy(logits, label)[0].item()}

    def after_epoch(self) -> None:
        self.gpa.add(self.epoch)
        if self.epoch + 1 == self.max_epoch:
            print("GPA: the model takes the Gaussian-weighted aggregate of its per-epoch prompts")
            self.gpa.load()
        super().after_epoch()  # so the last checkpoint holds the aggregate
