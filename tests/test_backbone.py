"""trainers/backbone: CLIP loading and the shared text encoder (trimmed sequences, class prompts)."""
import pytest
import torch
from yacs.config import CfgNode as CN

from testing.tiny_clip import build_tiny_clip, save_tiny_clip
from trainers.backbone import (
    TextEncoder,
    clip,
    clip_checkpoint_path,
    encode_class_prompts,
    load_clip_to_cpu,
    read_clip_state_dict,
)


def backbone_cfg(name="ViT-B/16", path=""):
    cfg = CN()
    cfg.MODEL = CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.BACKBONE.PATH = path
    return cfg


@pytest.fixture(autouse=True)
def no_env_checkpoint(monkeypatch):
    monkeypatch.delenv("CLIP_CHECKPOINT", raising=False)


@pytest.mark.parametrize("fmt", ["jit", "state_dict"])
@pytest.mark.parametrize("backbone", ["vit", "rn"])
def test_local_checkpoint_loads_through_clip(tmp_path, fmt, backbone):
    path = save_tiny_clip(str(tmp_path / "clip.pt"), fmt=fmt, backbone=backbone)
    model = load_clip_to_cpu(backbone_cfg(path=path))
    reference = build_tiny_clip(backbone=backbone)
    assert model.dtype == torch.float16  # as clip.build_model returns the released weights
    assert model.visual.input_resolution == 224 and model.vocab_size == 49408
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_fp32_state_dict_loads(tmp_path):
    path = tmp_path / "fp32.pt"
    torch.save(build_tiny_clip().float().state_dict(), path)
    assert load_clip_to_cpu(backbone_cfg(path=str(path))).dtype == torch.float16


def test_environment_variable_wins_over_config(tmp_path, monkeypatch):
    env_file = save_tiny_clip(str(tmp_path / "env.pt"), fmt="state_dict")
    monkeypatch.setenv("CLIP_CHECKPOINT", env_file)
    assert clip_checkpoint_path(backbone_cfg(name="RN50", path="/elsewhere/x.pt")) == env_file


def test_missing_checkpoint_names_path_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.pt \(from MODEL.BACKBONE.PATH\)"):
        load_clip_to_cpu(backbone_cfg(path=str(tmp_path / "missing.pt")))


def test_corrupt_checkpoint_is_one_line_error(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"\x00not a checkpoint" * 100)
    with pytest.raises(OSError, match="Cannot read CLIP checkpoint") as err:
        read_clip_state_dict(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_non_clip_state_dict_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="is not a CLIP checkpoint"):
        read_clip_state_dict(str(path))


def test_unknown_backbone_lists_available_models():
    with pytest.raises(ValueError, match="ViT-B/16"):
        clip_checkpoint_path(backbone_cfg(name="ViT-B/61"))


def test_backbone_name_resolves_to_download(monkeypatch):
    calls = []
    monkeypatch.setattr(clip, "_download", lambda url, root: calls.append((url, root)) or "/cache/ViT-B-16.pt")
    assert clip_checkpoint_path(backbone_cfg()) == "/cache/ViT-B-16.pt"
    assert calls[0][0] == clip._MODELS["ViT-B/16"] and calls[0][1].endswith(".cache/clip")


@pytest.fixture(scope="module")
def fp32_clip():
    return build_tiny_clip(layers=2).float()


def test_text_encoder_matches_clip_encode_text(fp32_clip):
    tokens = clip.tokenize(["a photo of a dog.", "an origami crane on a table.", "x"])
    expected = fp32_clip.encode_text(tokens)
    got = TextEncoder(fp32_clip)(fp32_clip.token_embedding(tokens), tokens, trim=False)
    assert torch.equal(got, expected)  # same operations, same order: bit-identical


def test_trimmed_text_encoder_matches_full_length(fp32_clip):
    tokens = clip.tokenize(["a photo of a dog.", "an origami crane on a table.", "x"])
    prompts = fp32_clip.token_embedding(tokens)
    encoder = TextEncoder(fp32_clip)
    full = encoder(prompts, tokens, trim=False)
    trimmed = encoder(prompts, tokens)
    assert (full - trimmed).abs().max() <= 1e-5


def test_class_prompt_features_average_templates(fp32_clip):
    names = ["golden_retriever", "tabby cat"]
    templates = ["a photo of a {}.", "art of the {}."]
    features = encode_class_prompts(fp32_clip, names, templates, chunk_size=1)

    single = [fp32_clip.encode_text(clip.tokenize([t.format(n.replace("_", " ")) for n in names])) for t in templates]
    mean = sum(f / f.norm(dim=-1, keepdim=True) for f in single) / len(templates)
    assert torch.allclose(features, mean / mean.norm(dim=-1, keepdim=True), atol=1e-5)
    assert torch.allclose(features.norm(dim=-1), torch.ones(2))
