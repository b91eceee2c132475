"""open_clip backbones (trainers/open_clip_backbone.py) with tiny random models, no downloads:
dispatch and preprocessing, equality with the ``clip`` path and with open_clip's own zero-shot
classifier, every method training one epoch (or refused in one line) on a CLIP-style and a
SigLIP-style model, and the one-line errors for missing weights."""
import json
import os

import pytest
import torch

from marks import fast_cases
from runs import make_dataset, read_log, run_train, train_args
from runtime.config import default_config
from testing.tiny_open_clip import SIGLIP_PREPROCESS, build_tiny_open_clip, register_tag, save_tiny_open_clip
from trainers.backbone import encode_class_prompts, load_clip_to_cpu
from trainers.open_clip_backbone import OpenCLIPBackbone
from trainers.open_clip_weights import input_settings, uses_open_clip

CLASSNAMES = ["cat", "dog", "sea lion", "fire truck"]
TEMPLATES = ["a photo of a {}.", "art of the {}.", "a {} in a video game."]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny checkpoints: OpenAI's format (state dict), CLIP-style and SigLIP-style open_clip ones
    (the SigLIP-style one also under a pretrained tag carrying SigLIP's preprocessing)."""
    from testing.tiny_clip import save_tiny_clip

    folder = tmp_path_factory.mktemp("open-clip")
    files = {
        "openai": save_tiny_clip(str(folder / "openai-tiny.pt"), fmt="state_dict"),
        "clip": save_tiny_open_clip(str(folder / "clip-style.pt"), "tiny-clip-vit", seed=1),
        "sigmoid": save_tiny_open_clip(str(folder / "sigmoid.pt"), "tiny-sigmoid-text", seed=2),
        "timm": save_tiny_open_clip(str(folder / "timm-clip.pt"), "tiny-timm-clip", seed=3),
    }
    register_tag("tiny-sigmoid-text", "tiny-webli", files["sigmoid"], **SIGLIP_PREPROCESS)
    return files


def backbone_cfg(name, pretrained=""):
    cfg = default_config()
    cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED = name, pretrained
    return cfg


def test_openai_names_stay_on_the_clip_package():
    assert not uses_open_clip(backbone_cfg("ViT-B/16"))
    assert not uses_open_clip(backbone_cfg("RN50"))
    assert uses_open_clip(backbone_cfg("ViT-B/16", "laion2b_s34b_b88k"))
    assert uses_open_clip(backbone_cfg("ViT-B-16"))
    assert uses_open_clip(backbone_cfg("hf-hub:timm/ViT-B-16-SigLIP"))
    assert input_settings(backbone_cfg("ViT-B/16")) == []


def test_preprocessing_comes_from_the_models_config(checkpoints):
    cfg = backbone_cfg("tiny-sigmoid-text", "tiny-webli")
    input_settings(cfg)
    assert tuple(cfg.INPUT.SIZE) == (160, 160) and cfg.INPUT.RESIZE_MODE == "squash"
    assert list(cfg.INPUT.PIXEL_MEAN) == [0.5] * 3 and cfg.INPUT.INTERPOLATION == "bicubic"
    cfg = backbone_cfg("tiny-clip-vit", checkpoints["clip"])  # a file: open_clip's defaults (OpenAI's)
    input_settings(cfg)
    assert tuple(cfg.INPUT.SIZE) == (224, 224) and cfg.INPUT.RESIZE_MODE == "shortest"
    assert cfg.INPUT.PIXEL_MEAN[0] == pytest.approx(0.48145466)


def coop_logits(cfg, images):
    from trainers.coop import CustomCLIP

    clip_model = load_clip_to_cpu(cfg).float()
    torch.manual_seed(0)
    model = CustomCLIP(cfg, CLASSNAMES, clip_model).eval()
    with torch.no_grad():
        return model(images)


def test_an_openai_checkpoint_gives_the_same_coop_logits_through_open_clip_and_clip(checkpoints):
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    through_clip = backbone_cfg("ViT-B/16")
    through_clip.MODEL.BACKBONE.PATH = checkpoints["openai"]
    through_open_clip = backbone_cfg("tiny-clip-vit", checkpoints["openai"])
    expected, got = coop_logits(through_clip, images), coop_logits(through_open_clip, images)
    relative = ((got - expected).norm() / expected.norm()).item()
    print(f"CoOp logits, open_clip vs clip (fp32): max abs {(got - expected).abs().max().item():.3g}, rel {relative:.3g}")
    assert relative <= 1e-6


@pytest.mark.parametrize("name, key", [("tiny-clip-vit", "clip"), ("tiny-sigmoid-text", "sigmoid")])
def test_zero_shot_features_are_open_clips_own_classifier(checkpoints, name, key):
    import open_clip

    adapter = load_clip_to_cpu(backbone_cfg(name, checkpoints[key])).float()
    assert isinstance(adapter, OpenCLIPBackbone)
    ours = encode_class_prompts(adapter, CLASSNAMES, TEMPLATES)
    reference = open_clip.create_model(name, pretrained=checkpoints[key]).eval()  # untouched open_clip model
    with torch.no_grad():
        theirs = open_clip.build_zero_shot_classifier(reference, open_clip.get_tokenizer(name), CLASSNAMES, TEMPLATES,
                                                      num_classes_per_batch=2, device="cpu", use_tqdm=False)
        size = reference.visual.image_size[0]
        images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        features = reference.encode_image(images, normalize=True)
    scale = reference.logit_scale.exp()
    bias = reference.logit_bias if reference.logit_bias is not None else 0
    expected, got = scale * features @ theirs + bias, scale * features @ ours.t() + bias
    relative = ((got - expected).norm() / expected.norm()).item()
    print(f"zero-shot logits vs open_clip's classifier ({name}): rel {relative:.3g}")
    assert relative <= 1e-6


# ---------------------------------------------------------------------------------------------
# Every method, one epoch, on each model
# ---------------------------------------------------------------------------------------------
CONFIGS = {
    "ZeroshotCLIP": "vit_b16_ep50", "CoOp": "vit_b16_ep50", "PLPP": "vit_b16_ep50",
    "CoCoOp": "vit_b16_c4_ep10_batch1_ctxv1", "CoCoOp_PLPP": "vit_b16_c4_ep10_batch1_ctxv1",
    "KgCoOp": "vit_b16_ep100_ctxv1", "KgCoOp_PLPP": "vit_b16_ep100_ctxv1",
    "MaPLe": "vit_b16_c2_ep5_batch4_2ctx", "MaPLe_PLPP": "vit_b16_c2_ep5_batch4_2ctx",
    "IVLP": "vit_b16_c2_ep5_batch4_2+2ctx",
    "PromptSRC": "vit_b16_c2_ep20_batch4_4+4ctx", "PromptSRC_PLPP": "vit_b16_c2_ep20_batch4_4+4ctx",
}
FAST_DEPTHS = {"MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "1"], "MaPLe_PLPP": ["TRAINER.MAPLE.PROMPT_DEPTH", "1"],
               "IVLP": ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "1", "TRAINER.IVLP.PROMPT_DEPTH_VISION", "1"],
               "PromptSRC": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "1", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "1",
                             "TRAINER.PROMPTSRC.GPA_MEAN", "1"],
               "PromptSRC_PLPP": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "1", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "1",
                                  "TRAINER.PROMPTSRC.GPA_MEAN", "1"]}
DEEP = ("MaPLe", "MaPLe_PLPP", "IVLP", "PromptSRC", "PromptSRC_PLPP")
PLPP_HOSTS = ("PLPP", "CoCoOp_PLPP", "KgCoOp_PLPP")
SIGMOID_REFUSED = {m: "deep prompts enter both towers" for m in DEEP}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")), "eurosat")


def method_args(data_root, out, method, name, pretrained, opts=()):
    flags = ["--eval-only"] if method == "ZeroshotCLIP" else []
    return train_args(data_root, out, trainer=method, dataset="eurosat", config=CONFIGS[method], flags=flags,
                      opts=["MODEL.BACKBONE.NAME", name, "MODEL.BACKBONE.PRETRAINED", pretrained, "OPTIM.MAX_EPOCH", "1",
                            "DATASET.NUM_SHOTS", "1", *FAST_DEPTHS.get(method, []), *opts])


@pytest.mark.parametrize("method", fast_cases(CONFIGS, fast=["ZeroshotCLIP", "CoOp", "PLPP"]))
def test_every_method_trains_and_evaluates_on_a_clip_style_open_clip_model(checkpoints, data_root, tmp_path, method):
    out = str(tmp_path / "out")
    run_train(method_args(data_root, out, method, "tiny-clip-vit", checkpoints["clip"]))
    log = read_log(out)
    assert "* accuracy:" in log
    if method.endswith("PLPP"):
        assert " ppl " in log and " perplexity " in log  # the regulariser ran on open_clip's text tower
    with open(os.path.join(out, "environment.json")) as f:
        backbone = json.load(f)["backbone"]
    assert backbone["name"] == "tiny-clip-vit" and backbone["weights"] == checkpoints["clip"]
    assert len(backbone["weights_sha256"]) == 64


@pytest.mark.parametrize("method", fast_cases(CONFIGS, fast=["CoOp", "PLPP", "MaPLe"]))
def test_on_a_sigmoid_model_each_method_trains_or_is_refused_in_one_line(checkpoints, data_root, tmp_path, method):
    args = method_args(data_root, str(tmp_path / "out"), method, "tiny-sigmoid-text", "tiny-webli")
    if method in SIGMOID_REFUSED:
        with pytest.raises(ValueError) as error:
            run_train(args)
        message = str(error.value)
        assert "\n" not in message and method in message and "tiny-sigmoid-text" in message
        assert SIGMOID_REFUSED[method] in message
        return
    run_train(args)
    log = read_log(str(tmp_path / "out"))
    assert "* accuracy:" in log and "resize to 160x160" in log  # SigLIP's squash resize
    if method in PLPP_HOSTS:
        assert " ppl " in log  # the same-position reading (the default) runs on a bidirectional tower


@pytest.mark.parametrize("method", PLPP_HOSTS)
def test_plpp_next_token_reading_is_refused_on_a_bidirectional_tower(checkpoints, data_root, tmp_path, method):
    args = method_args(data_root, str(tmp_path / "out"), method, "tiny-sigmoid-text", "tiny-webli",
                       opts=["TRAINER.PLPP.ALIGN", "next"])
    with pytest.raises(ValueError) as error:
        run_train(args)
    message = str(error.value)
    assert "\n" not in message and method in message and "tiny-sigmoid-text" in message
    assert "next-token reading" in message and "ALIGN same" in message


@pytest.mark.parametrize("method", ["CoOp", "PLPP", "MaPLe"])
def test_a_timm_image_tower_with_a_clip_style_text_tower(checkpoints, data_root, tmp_path, method):
    """EVA02's layout: the text-side methods and PLPP train; deep prompts are refused in one line."""
    args = method_args(data_root, str(tmp_path / "out"), method, "tiny-timm-clip", checkpoints["timm"])
    if method == "MaPLe":
        with pytest.raises(ValueError, match="MaPLe cannot run on tiny-timm-clip .* deep prompts"):
            run_train(args)
        return
    run_train(args)
    assert "* accuracy:" in read_log(str(tmp_path / "out"))


def test_missing_weights_say_which_file_to_place_where(monkeypatch, checkpoints):
    from open_clip import pretrained

    monkeypatch.setitem(pretrained._PRETRAINED, "tiny-clip-vit", {"offline": {"url": "http://127.0.0.1:9/tiny.pt"}})
    with pytest.raises(FileNotFoundError) as error:
        load_clip_to_cpu(backbone_cfg("tiny-clip-vit", "offline"))
    message = str(error.value)
    assert "\n" not in message and "http://127.0.0.1:9/tiny.pt" in message and "MODEL.BACKBONE.PATH" in message
    cfg = backbone_cfg("tiny-clip-vit", "offline")  # the file given, the tag kept for its preprocessing
    cfg.MODEL.BACKBONE.PATH = checkpoints["clip"]
    assert isinstance(load_clip_to_cpu(cfg), OpenCLIPBackbone)


def test_a_hub_model_missing_from_the_cache_says_what_to_download(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no network here: fail at once
    with pytest.raises(FileNotFoundError) as error:
        load_clip_to_cpu(backbone_cfg("hf-hub:nobody/no-such-model"))
    message = str(error.value)
    assert "\n" not in message and "https://huggingface.co/nobody/no-such-model" in message and "local-dir:" in message


def test_a_local_dir_model_loads_with_its_own_config_and_preprocessing(checkpoints, tmp_path):
    from safetensors.torch import save_file

    from testing.tiny_open_clip import CONFIGS

    folder = tmp_path / "tiny-hub-copy"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": CONFIGS["tiny-sigmoid-text"], "preprocess_cfg": SIGLIP_PREPROCESS}))
    weights = torch.load(checkpoints["sigmoid"], weights_only=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / "open_clip_model.safetensors"))
    cfg = backbone_cfg(f"local-dir:{folder}")
    input_settings(cfg)
    assert cfg.INPUT.RESIZE_MODE == "squash" and tuple(cfg.INPUT.SIZE) == (160, 160)
    adapter = load_clip_to_cpu(cfg)
    assert torch.equal(adapter.logit_bias, weights["logit_bias"]) and not adapter.causal


@pytest.mark.parametrize("pretrained, message", [
    ("", "needs MODEL.BACKBONE.PRETRAINED"),
    ("no_such_tag", "needs MODEL.BACKBONE.PRETRAINED"),
    ("/nowhere/weights.safetensors", "does not exist"),
])
def test_bad_pretrained_settings_are_one_line_errors(pretrained, message):
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        load_clip_to_cpu(backbone_cfg("ViT-B-16", pretrained))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_backbone_names_both_libraries():
    with pytest.raises(ValueError, match="neither OpenAI's"):
        load_clip_to_cpu(backbone_cfg("ViT-Q-99", "x.pt"))


def test_the_feature_cache_key_names_an_open_clip_backbone_and_leaves_openais_as_it_was(checkpoints):
    from trainers.open_clip_weights import backbone_identity

    assert backbone_identity(backbone_cfg("ViT-B/16")) is None
    identity = backbone_identity(backbone_cfg("tiny-sigmoid-text", "tiny-webli"))
    assert identity["name"] == "tiny-sigmoid-text" and identity["pretrained"] == "tiny-webli"
    assert identity["library"].startswith("open_clip ")


def test_the_adapter_keeps_open_clips_own_forward(checkpoints):
    """Flipping the blocks to sequence-first leaves open_clip's own encoders as they were."""
    adapter = load_clip_to_cpu(backbone_cfg("tiny-clip-vit", checkpoints["clip"])).float()
    reference = build_tiny_open_clip("tiny-clip-vit", seed=1)
    tokens = adapter.tokenize(["a photo of a cat."])
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(adapter.encode_image(images), reference.encode_image(images), atol=1e-5)
        assert torch.allclose(encode_class_prompts(adapter, ["cat"], ["a photo of a {}."]),
                              reference.encode_text(tokens, normalize=True), atol=1e-5)


def test_cocoops_trimmed_batches_equal_its_full_length_reference_on_a_bidirectional_tower(checkpoints):
    """CoCoOp trims its prompts; the SigLIP-style encoder completes them from their token ids,
    so the batched logits are the per-image, full-length ones."""
    from trainers.cocoop import CustomCLIP

    cfg = backbone_cfg("tiny-sigmoid-text", "tiny-webli")
    clip_model = load_clip_to_cpu(cfg).float()
    torch.manual_seed(0)
    model = CustomCLIP(cfg, CLASSNAMES, clip_model).eval()
    assert model.prompt_length < clip_model.positional_embedding.shape[0]  # the batched path really trims
    images = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = model.forward_per_image(images), model(images)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, key", [("tiny-clip-vit", "clip"), ("tiny-sigmoid-text", "sigmoid")])
def test_fp16_runs_get_fp16_weights_with_fp32_layer_norms(checkpoints, name, key):
    from open_clip.transformer import LayerNorm

    full, half = (load_clip_to_cpu(backbone_cfg(name, checkpoints[key])) for _ in range(2))
    half.to_fp16()
    assert full.dtype == torch.float32 and half.dtype == torch.float16
    assert not any(type(module) is LayerNorm for module in half.modules())
    size = full.visual.input_resolution
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(half.encode_image(images.half()).float(), full.encode_image(images), atol=1e-2)
        assert torch.allclose(encode_class_prompts(half, CLASSNAMES, TEMPLATES).float(),
                              encode_class_prompts(full, CLASSNAMES, TEMPLATES), atol=1e-2)


class StartlessTokenizer:
    """SigLIP's tokenizers' layout without their download: OpenAI's BPE ids, no start token, the
    end token after the text, padding 0 (open_clip's HFTokenizer interface: ``.tokenizer``)."""

    def __init__(self, context_length=64):
        from open_clip.tokenizer import SimpleTokenizer

        self.bpe, self.context_length = SimpleTokenizer(), context_length
        self.tokenizer = self  # what open_clip's HFTokenizer wraps
        self.pad_token_id = 0

    def encode(self, text, add_special_tokens=True):
        return self.bpe.encode(text) + ([self.bpe.eot_token_id] if add_special_tokens else [])

    def __call__(self, texts):
        tokens = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in zip(tokens, texts):
            ids = self.encode(text)
            row[: len(ids)] = torch.tensor(ids)
        return tokens


def test_prompts_get_a_frozen_first_position_when_the_tokenizer_writes_no_start_token(checkpoints):
    from trainers.coop import PromptLearner

    cfg = backbone_cfg("tiny-sigmoid-text", "tiny-webli")
    cfg.TRAINER.COOP.CTX_INIT = "a photo of a"
    adapter = load_clip_to_cpu(cfg).float()
    adapter.tokenizer = StartlessTokenizer()
    learner = PromptLearner(cfg, ["sea lion"], adapter)
    tokens = learner.tokenized_prompts[0]
    words = adapter.tokenizer.encode("a photo of a sea lion.", add_special_tokens=False)
    assert tokens[0] == 0 and tokens[1 : 1 + len(words)].tolist() == words  # pad in front, then the words
    assert torch.equal(learner.ctx, adapter.token_embedding(torch.tensor(words[:4])))  # "a photo of a"
    assert learner.name_lens == [2]  # "sea lion"
    assert adapter.tokenize(["a cat"])[0, 0] != 0  # zero-shot prompts stay as open_clip writes them


@pytest.mark.parametrize("mode, expected_rows", [("shortest", 0), ("squash", 0), ("longest", 80)])
def test_test_resize_modes(mode, expected_rows):
    """open_clip's resize modes in the bundled engine's test transform: "longest" pads (zero rows
    above and below a wide image), "squash" and "shortest" fill the square."""
    from PIL import Image

    from dassl.data.transforms import build_transform

    cfg = default_config()
    cfg.INPUT.SIZE, cfg.INPUT.RESIZE_MODE, cfg.INPUT.TRANSFORMS = (160, 160), mode, ()
    image = Image.new("RGB", (320, 160), (255, 255, 255))
    tensor = build_transform(cfg, is_train=False)(image)
    assert tuple(tensor.shape) == (3, 160, 160)
    assert int((tensor.sum(dim=(0, 2)) == 0).sum()) == expected_rows
