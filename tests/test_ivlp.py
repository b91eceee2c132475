"""IVLP and IVLP_PLPP on a fixture dataset with a tiny 3-block CLIP: training, gradients,
checkpoints under the reference's keys (both ways), eval-only, base-to-new, language-only
prompting, bad settings; PLPP at zero weights, the context it scores, its checkpoints."""
import pytest
import torch

from deep_runs import (build, check_base_to_new, check_host_evaluates_plpp_checkpoint, check_plpp_scores_the_first_layer_context,
                       check_training_and_eval_only, deep_train_args, learned_names, save_deep_clip, write_reference_checkpoint)
from runs import make_dataset, read_log, run_train
from testing.tiny_clip import save_tiny_clip
from trainers.plpp import captured_outputs

CONFIG = "vit_b16_c2_ep5_batch4_2+2ctx"  # the reference's base-to-new config (depth 12 -> 3 here)
SETTINGS = ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "3", "TRAINER.IVLP.PROMPT_DEPTH_VISION", "3", "OPTIM.LR", "0.02",
            "DATASET.NUM_SHOTS", "4"]
REFERENCE_KEYS = {
    "prompt_learner.ctx", "prompt_learner.token_prefix", "prompt_learner.token_suffix", "image_encoder.VPT",
    "image_encoder.transformer.resblocks.1.VPT_shallow", "image_encoder.transformer.resblocks.2.VPT_shallow",
    "text_encoder.transformer.resblocks.1.VPT_shallow", "text_encoder.transformer.resblocks.2.VPT_shallow",
}


@pytest.fixture(scope="module")
def deep_clip(tmp_path_factory):
    return save_deep_clip(str(tmp_path_factory.mktemp("clip")))


@pytest.fixture
def args(tmp_path, deep_clip, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", deep_clip)
    return deep_train_args(make_dataset(str(tmp_path / "data")), "IVLP", CONFIG, SETTINGS)


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_ivlp_trains_saves_the_references_keys_and_eval_only_reproduces(args, tmp_path):
    state = check_training_and_eval_only(args, str(tmp_path / "train"), "VLPromptLearner", REFERENCE_KEYS)
    assert state["image_encoder.VPT"].shape == (2, 64) and state["prompt_learner.ctx"].shape == (2, 64)
    log = read_log(str(tmp_path / "train"))
    assert 'Initial context: "a photo of a"' in log and "Independent V-L design" in log


def test_only_the_prompts_get_gradients(args, tmp_path):
    trainer = build(args(str(tmp_path / "out")))
    trainer.forward_backward(next(iter(trainer.train_loader_x)))
    expected = {"prompt_learner.ctx", "prompt_learner.vision_ctx", "prompt_learner.deep_vision_prompts.0",
                "prompt_learner.deep_vision_prompts.1", "prompt_learner.deep_text_prompts.0", "prompt_learner.deep_text_prompts.1"}
    assert {name for name, p in trainer.model.named_parameters() if p.grad is not None} == expected
    assert learned_names(trainer) == expected


@pytest.mark.slow  # a whole training run and its evaluation (CI runs it)
def test_base_trained_prompts_evaluate_on_new_classes(args, tmp_path):
    check_base_to_new(args, str(tmp_path / "base"))


def test_a_reference_checkpoint_with_clips_weights_loads(args, tmp_path):
    """The reference saves its whole CustomCLIP (frozen CLIP included) under VLPromptLearner/."""
    trainer = build(args(str(tmp_path / "out")))
    prompts = write_reference_checkpoint(trainer, str(tmp_path / "reference"), "VLPromptLearner", 5)
    trainer.load_model(str(tmp_path / "reference"), epoch=5)
    learner = trainer.model.prompt_learner
    assert torch.equal(learner.vision_ctx, prompts["image_encoder.VPT"])
    assert torch.equal(learner.deep_vision_prompts[1], prompts["image_encoder.transformer.resblocks.2.VPT_shallow"])
    assert torch.equal(learner.deep_text_prompts[0], prompts["text_encoder.transformer.resblocks.1.VPT_shallow"])
    assert torch.equal(learner.ctx, prompts["prompt_learner.ctx"])
    assert not torch.equal(learner.token_prefix, prompts["prompt_learner.token_prefix"])  # class names: never loaded


def test_language_only_prompting_leaves_the_image_tower_plain(args, tmp_path):
    config_args = deep_train_args(make_dataset(str(tmp_path / "data2")), "IVLP", "vit_b16_c2_ep5_batch4_4ctx_language_only",
                                  ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "3"])
    trainer = build(config_args(str(tmp_path / "out")))
    model = trainer.model
    assert learned_names(trainer) == {"prompt_learner.ctx", "prompt_learner.deep_text_prompts.0", "prompt_learner.deep_text_prompts.1"}
    assert model.prompt_learner.ctx.shape == (4, 64)
    images = next(iter(trainer.train_loader_x))["img"][:2]
    with torch.no_grad():
        assert torch.equal(model.features(images)[0], model.encode_image(images))


@pytest.mark.parametrize("key, value, message", [
    ("TRAINER.IVLP.PROMPT_DEPTH_TEXT", "0", r"PROMPT_DEPTH_TEXT must be between 1 and 3"),
    ("TRAINER.IVLP.PROMPT_DEPTH_VISION", "12", r"PROMPT_DEPTH_VISION must be between 0 and 3 \(this CLIP's number of blocks\), got 12"),
    ("TRAINER.IVLP.PREC", "fp8", r"PREC must be one of"),
])
def test_bad_settings_are_one_line_errors(args, tmp_path, key, value, message):
    with pytest.raises(ValueError, match=message):
        run_train(args(str(tmp_path / "out"), opts=[key, value]))


def test_a_resnet_backbone_fails_at_start_up_with_one_line(args, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", save_tiny_clip(str(tmp_path / "rn.pt"), fmt="state_dict", backbone="rn"))
    with pytest.raises(ValueError, match=r"^IVLP needs a ViT CLIP: .* the loaded CLIP has a ResNet image encoder; set "
                                         r"MODEL.BACKBONE.NAME to ViT-B/32, ViT-B/16 or ViT-L/14"):
        run_train(args(str(tmp_path / "out")))



# ---- IVLP_PLPP ----------------------------------------------------------------------------------

ZERO_PLPP = ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"]


@pytest.fixture
def plpp_args(tmp_path, deep_clip, monkeypatch):
    monkeypatch.setenv("CLIP_CHECKPOINT", deep_clip)
    return deep_train_args(make_dataset(str(tmp_path / "plpp-data")), "IVLP_PLPP", CONFIG, SETTINGS)


def test_ivlp_plpp_with_zero_weights_is_exactly_ivlp(args, plpp_args, tmp_path):
    host = build(args(str(tmp_path / "host")))
    plpp = build(plpp_args(str(tmp_path / "plpp"), opts=ZERO_PLPP))
    batch = next(iter(host.train_loader_x))
    with captured_outputs(host.model.text_encoder.ln_final) as host_passes:
        host_summary = host.forward_backward(batch)
    with captured_outputs(plpp.model.text_encoder.ln_final) as text_passes:
        assert plpp.forward_backward(batch) == host_summary
    assert len(text_passes) == len(host_passes)  # only IVLP's own text pass: the regulariser did no work
    for (name, ours), (_, theirs) in zip(plpp.checkpoint_module.state_dict().items(), host.checkpoint_module.state_dict().items()):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("align", ["same", "next"])
def test_ivlp_plpp_scores_the_first_layer_text_context_from_ivlps_own_pass(args, plpp_args, tmp_path, align):
    host = build(args(str(tmp_path / "host")))
    plpp = build(plpp_args(str(tmp_path / "plpp"), opts=["TRAINER.PLPP.ALIGN", align]))
    summary = check_plpp_scores_the_first_layer_context(host, plpp, align)
    assert list(summary) == ["loss", "ce", "ppl", "inv", "perplexity", "acc"]
    assert learned_names(plpp) == learned_names(host)
    assert not torch.equal(host.model.prompt_learner.ctx, plpp.model.prompt_learner.ctx)


def test_ivlp_plpp_checkpoint_is_an_ivlp_checkpoint(args, plpp_args, tmp_path):
    check_host_evaluates_plpp_checkpoint(args, plpp_args, str(tmp_path))
