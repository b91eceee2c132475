"""trainers/deep_prompting.py: the stock CLIP towers run block by block with prompt tokens, checked
against a direct computation with CLIP's own blocks (the forked-CLIP semantics of the
references); plain CLIP without prompts; trimming; widths; ResNets; checkpoint key names."""
import pytest
import torch
import torch.nn as nn

from testing.tiny_clip import build_tiny_clip
from trainers.deep_prompting import (DeepPromptCLIP, DeepPromptLearner, DeepPrompts, PromptedImageEncoder,
                                     ReferenceCheckpoint, check_depth, leading_words_context, random_prompts,
                                     require_vision_transformer)

CLASSES = ["dog", "sea_lion", "red wine glass"]


def two_width_clip(layers=3):
    """A fp32 ViT CLIP whose towers differ in width (text 64, vision 128) and depth (vision +1)."""
    from clip.model import CLIP

    torch.manual_seed(0)
    model = CLIP(embed_dim=32, image_resolution=64, vision_layers=layers + 1, vision_width=128, vision_patch_size=32,
                 context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1, transformer_layers=layers)
    return model.eval()


class Learner(DeepPromptLearner):
    """A prompt learner with given deep prompts (MaPLe and IVLP differ only in where these come from)."""

    def __init__(self, clip_model, n_ctx=2, text_depth=1, vision_tokens=0, vision_depth=0):
        super().__init__(clip_model, CLASSES, n_ctx, "a photo of a")
        self.text_deep = random_prompts(text_depth - 1, n_ctx, 64)
        self.vision = random_prompts(vision_depth, vision_tokens, 128)

    def forward(self):
        vision = list(self.vision)
        return DeepPrompts(self.text_prompts(), list(self.text_deep), vision[0] if vision else None, vision[1:])


@pytest.fixture(scope="module")
def clip_model():
    return two_width_clip()


@pytest.fixture(scope="module")
def images():
    return torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def direct_text(clip_model, prompts, tokens, deep):
    """The references' text tower: all 77 positions, CLIP's own blocks and mask, positions 1..n
    overwritten before blocks 1, 2, ..."""
    x = (prompts + clip_model.positional_embedding).permute(1, 0, 2).clone()
    for index, block in enumerate(clip_model.transformer.resblocks):
        if 1 <= index <= len(deep):
            x = x.clone()
            x[1 : 1 + deep[index - 1].shape[0]] = deep[index - 1].unsqueeze(1)
        x = block(x)
    x = clip_model.ln_final(x.permute(1, 0, 2))
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ clip_model.text_projection


def direct_image(clip_model, images, first, deep):
    """The references' vision tower: prompts appended before ln_pre, the last m tokens
    overwritten before blocks 1, 2, ..."""
    visual = clip_model.visual
    x = visual.conv1(images).flatten(2).permute(0, 2, 1)
    x = torch.cat([visual.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + visual.positional_embedding
    x = visual.ln_pre(torch.cat([x, first.expand(x.shape[0], -1, -1)], dim=1)).permute(1, 0, 2)
    for index, block in enumerate(visual.transformer.resblocks):
        if 1 <= index <= len(deep):
            x = x.clone()
            x[-first.shape[0]:] = deep[index - 1].unsqueeze(1)
        x = block(x)
    return visual.ln_post(x[0]) @ visual.proj


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_without_prompts_the_towers_are_plain_clip(clip_model, images):
    from clip import clip

    model = DeepPromptCLIP(Learner(clip_model, n_ctx=4), clip_model)  # context = "a photo of a", depth 1
    with torch.no_grad():
        assert torch.equal(PromptedImageEncoder(clip_model)(images), clip_model.visual(images))
        image_features, text_features = model.features(images)
        plain_text = clip_model.encode_text(clip.tokenize([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES]))
        assert torch.equal(image_features, unit(clip_model.encode_image(images)))
    assert (text_features - unit(plain_text)).abs().max() <= 1e-6


def test_deep_prompts_replace_the_prompt_positions_in_both_towers(clip_model, images):
    learner = Learner(clip_model, n_ctx=2, text_depth=3, vision_tokens=3, vision_depth=4)
    model = DeepPromptCLIP(learner, clip_model)
    with torch.no_grad():
        prompts = learner()
        text = model.encode_text(prompts)
        image = model.encode_image(images, prompts)
        expected_text = unit(direct_text(clip_model, prompts.text, learner.tokenized_prompts, prompts.text_deep))
        expected_image = unit(direct_image(clip_model, images, prompts.vision, prompts.vision_deep))
    assert (text - expected_text).abs().max() <= 1e-5  # trimmed (ours) against 77 positions
    assert (image - expected_image).abs().max() <= 1e-6
    assert (text - model.encode_text(prompts._replace(text_deep=[]))).abs().max() > 1e-3  # they matter
    assert (image - model.encode_image(images, prompts._replace(vision_deep=prompts.vision_deep[:1]))).abs().max() > 1e-3


def test_trimmed_text_equals_the_77_token_path_with_deep_prompts(clip_model):
    from trainers.deep_prompting import deep_prompt_hook

    learner = Learner(clip_model, n_ctx=2, text_depth=3)
    model = DeepPromptCLIP(learner, clip_model)
    with torch.no_grad():
        prompts = learner()
        hook = deep_prompt_hook(prompts.text_deep, 1)
        full = model.text_encoder(prompts.text, learner.tokenized_prompts, trim=False, before_block=hook)
        trimmed = model.text_encoder(prompts.text, learner.tokenized_prompts, before_block=hook)
    assert (trimmed - full).abs().max() <= 1e-5


def test_gradients_reach_every_prompt_and_nothing_of_clip(clip_model, images):
    learner = Learner(clip_model, n_ctx=2, text_depth=3, vision_tokens=2, vision_depth=3)
    model = DeepPromptCLIP(learner, clip_model)
    for name, param in model.named_parameters():
        param.requires_grad_("prompt_learner" in name)
    model(images).logsumexp(-1).sum().backward()
    learned = {name for name, p in learner.named_parameters()}
    assert learned == {"ctx", "text_deep.0", "text_deep.1", "vision.0", "vision.1", "vision.2"}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.parameters())
    for p in learner.parameters():
        p.grad = None


def test_evaluation_builds_prompts_and_text_features_once(clip_model, images):
    learner = Learner(clip_model, n_ctx=2, text_depth=2, vision_tokens=2, vision_depth=2)
    model = DeepPromptCLIP(learner, clip_model)
    calls = []
    handle = learner.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        expected = model(images)
        calls.clear()
        with model.prompts_fixed():
            logits = [model(images[:2]), model(images[2:])]
    handle.remove()
    assert len(calls) == 1 and model.fixed is None
    assert torch.allclose(torch.cat(logits), expected, atol=1e-6)


def test_context_starts_from_the_first_words_and_keeps_the_rest_of_the_prompt(clip_model):
    from clip import clip

    ctx, text = leading_words_context(clip_model, "a_photo of a", 2)
    words = clip_model.token_embedding(clip.tokenize("a photo of a"))[0]
    assert text == "a photo of a" and torch.equal(ctx, words[1:3].detach())
    learner = Learner(clip_model, n_ctx=2)
    assert torch.equal(learner.token_suffix[0, :2], words[3:5].detach())  # "of a" stays, fixed

    torch.manual_seed(0)
    ctx, text = leading_words_context(clip_model, "a photo of a", 5)  # > 4: random, as the references
    assert text == "X X X X X" and ctx.shape == (5, 64) and 0.01 < ctx.std().item() < 0.03
    with pytest.raises(ValueError, match='CTX_INIT "a photo" has 2 tokens, fewer than the 3'):
        leading_words_context(clip_model, "a photo", 3)


def test_widths_and_depth_limits_come_from_the_loaded_clip(clip_model):
    check_depth("TRAINER.X.PROMPT_DEPTH", 3, 1, clip_model)  # text 3 blocks, vision 4
    with pytest.raises(ValueError, match=r"^TRAINER.X.PROMPT_DEPTH must be between 1 and 3 \(this CLIP's number of blocks\), got 4$"):
        check_depth("TRAINER.X.PROMPT_DEPTH", 4, 1, clip_model)


def test_a_resnet_backbone_is_refused_with_one_line():
    with pytest.raises(ValueError) as error:
        require_vision_transformer(build_tiny_clip("rn"), "MaPLe")
    message = str(error.value)
    assert "\n" not in message and message.startswith("MaPLe needs a ViT CLIP") and "ResNet image encoder" in message
    require_vision_transformer(build_tiny_clip("vit"), "MaPLe")


def test_checkpoint_module_saves_and_loads_under_the_reference_keys(clip_model):
    class Renamed(Learner):
        def reference_keys(self):
            return {"vision.0": "image_encoder.VPT", "text_deep.0": "text_encoder.transformer.resblocks.1.VPT_shallow"}

    learner = Renamed(clip_model, n_ctx=2, text_depth=2, vision_tokens=2, vision_depth=1)
    checkpoint = ReferenceCheckpoint(learner)
    state = checkpoint.state_dict()
    assert set(state) == {"prompt_learner.ctx", "prompt_learner.token_prefix", "prompt_learner.token_suffix",
                          "image_encoder.VPT", "text_encoder.transformer.resblocks.1.VPT_shallow"}
    reference = {key: torch.randn_like(value) for key, value in state.items()}
    reference["image_encoder.conv1.weight"] = torch.randn(3)  # the reference also saves frozen CLIP
    result = checkpoint.load_state_dict(reference, strict=False)
    assert result.unexpected_keys == ["image_encoder.conv1.weight"] and not result.missing_keys
    assert torch.equal(learner.vision[0], reference["image_encoder.VPT"])
    assert torch.equal(learner.text_deep[0], reference["text_encoder.transformer.resblocks.1.VPT_shallow"])
    assert isinstance(checkpoint.prompt_learner, nn.Module) and list(checkpoint.parameters()) == list(learner.parameters())
