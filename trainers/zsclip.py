"""Zero-shot CLIP baselines: one hand-written template per dataset (from the dataset
catalogue), or a template ensemble."""

from dassl.engine import TRAINER_REGISTRY, TrainerX
from runtime.catalogue import zero_shot_template

from .backbone import encode_class_prompts, load_clip_to_cpu
from .feature_cache import cached_image_features

# The seven ImageNet templates selected in CLIP's prompt-engineering notebook.
IMAGENET_TEMPLATES_SELECT = [
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
]


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """CLIP with the dataset's template (datasets without one use "a photo of a {}.")."""

    frozen_image_tower = True  # evaluation reuses cached image features (trainers/feature_cache.py)

    def templates(self) -> list:
        return [zero_shot_template(self.cfg.DATASET.NAME)]

    def build_model(self):
        cfg = self.cfg
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip_to_cpu(cfg)
        if self.device.type != "cuda":
            clip_model.float()  # fp16 kernels are a GPU feature
        clip_model.to(self.device)
        clip_model.requires_grad_(False)

        templates = self.templates()
        print(f"Prompt templates (n={len(templates)}): {templates}")
        self.text_features = encode_class_prompts(clip_model, self.dm.dataset.classnames, templates)
        self.clip_model = clip_model

    def image_tower(self):
        return self.clip_model.visual

    def encode_images(self, images):
        """Unit-norm image features (what the feature cache stores)."""
        image_features = self.clip_model.encode_image(images.type(self.clip_model.dtype))
        return image_features / image_features.norm(dim=-1, keepdim=True)

    def logits_from_features(self, features):
        logits = self.clip_model.logit_scale.exp() * features @ self.text_features.t()
        bias = getattr(self.clip_model, "logit_bias", None)  # SigLIP's (open_clip); OpenAI's CLIP has none
        return logits if bias is None else logits + bias

    def model_inference(self, image):
        return self.logits_from_features(self.encode_images(image))

    def test(self, split=None):
        with cached_image_features(self):
            return super().test(split)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensembling: the seven ImageNet templates, plus the dataset's own outside ImageNet."""

    def templates(self) -> list:
        if self.cfg.DATASET.NAME == "ImageNet":
            return list(IMAGENET_TEMPLATES_SELECT)
        return IMAGENET_TEMPLATES_SELECT + [zero_shot_template(self.cfg.DATASET.NAME)]
