"""trainers/prefix_encoding: the prompts' shared prefix encoded once equals the full sequences
(features and gradients, fp32, relative error within 2e-6) for every method that uses it, and
``MODEL.SHARED_PREFIX False`` is the full-sequence path bit for bit."""
import itertools

import pytest
import torch
from yacs.config import CfgNode as CN

from runs import build_trainer, make_dataset, train_args
from testing.tiny_clip import build_tiny_clip
from trainers import cocoop, coop, ivlp, kgcoop, maple
from trainers.backbone import clip
from trainers.deep_prompting import DeepPromptCLIP
from trainers.plpp import captured_outputs
from trainers.prefix_encoding import common_prefix_length, length_buckets

# fp32 rounding only: the attention's sums run in another order (measured 4e-7 to 1.4e-6 here;
# the full path against itself, trimmed or not, is bitwise equal).
REL = 2e-6
# One to seven tokens per name: suffixes of mixed lengths, in several length groups.
CLASSNAMES = ["Annual Crop Land", "golden_retriever", "F/A-18", "a", "sea or lake", "the origami crane on a wooden table"]


@pytest.fixture(scope="module")
def fp32_clip():
    return build_tiny_clip(width=128, layers=2).float()


def config(node: str, shared: bool = True, extend=None, **settings) -> CN:
    cfg = CN()
    cfg.MODEL = CN({"SHARED_PREFIX": shared})
    cfg.INPUT = CN({"SIZE": (224, 224)})
    cfg.DATASET = CN({"NAME": "EuroSAT"})
    cfg.TRAINER = CN()
    extend(cfg)
    cfg.TRAINER[node].update(settings)
    return cfg


def assert_close(got: torch.Tensor, expected: torch.Tensor, rel: float = REL) -> None:
    """Relative error ||got - expected|| / ||expected|| at most ``rel``."""
    assert got.shape == expected.shape
    error = float((got - expected).detach().norm() / expected.detach().norm())
    assert error <= rel, f"relative error {error:.1e}"


def gradients(model: torch.nn.Module, output: torch.Tensor):
    """d(a fixed random projection of output)/d(every learned tensor), by name."""
    learned = [(n, p) for n, p in model.named_parameters() if "prompt_learner" in n and p.requires_grad]
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad((output * weights).sum(), [p for _, p in learned], allow_unused=True)
    return {n: g for (n, _), g in zip(learned, grads) if g is not None}


def assert_same_features_and_gradients(shared_model, full_model, encode) -> None:
    full_model.load_state_dict(shared_model.state_dict())
    assert shared_model.prefix_length > 0 and full_model.prefix_length == 0
    shared, full = encode(shared_model), encode(full_model)
    assert_close(shared, full)
    shared_grads, full_grads = gradients(shared_model, shared), gradients(full_model, full)
    assert set(shared_grads) == set(full_grads) and shared_grads
    for name, grad in full_grads.items():
        assert_close(shared_grads[name], grad)


# ---- the mechanism ------------------------------------------------------------------------------

def test_common_prefix_stops_before_the_first_end_of_text():
    tokens = clip.tokenize(["X X red fox.", "X X red lily.", "X X red"])
    assert common_prefix_length(tokens) == 1 + 2 + 1  # SOS, X X, "red"; then the shortest prompt's EOT
    assert common_prefix_length(clip.tokenize(["a photo"])) == int(clip.tokenize(["a photo"]).argmax())


def test_length_buckets_cover_every_index_once_with_fewest_padded_tokens():
    lengths = [1, 1, 2, 5, 5, 9, 3, 1, 9]
    groups = length_buckets(lengths, max_buckets=3)
    assert sorted(itertools.chain(*groups)) == list(range(len(lengths))) and len(groups) <= 3

    def padded(gs):
        return sum(len(g) * (max(lengths[i] for i in g) + 1) for g in gs)

    distinct = sorted(set(lengths))
    best = min(padded([[i for i, n in enumerate(lengths) if lo < n <= hi] for lo, hi in zip((0,) + cuts, cuts + (9,))])
               for k in range(3) for cuts in itertools.combinations(distinct[:-1], k))
    assert padded(groups) == best


# ---- CoOp, KgCoOp ---------------------------------------------------------------------------

def coop_model(clip_model, shared, position="end", csc=False, ctx_init="", names=CLASSNAMES):
    torch.manual_seed(0)
    cfg = config("COOP", shared, coop.extend_cfg, N_CTX=6, CSC=csc, CTX_INIT=ctx_init, CLASS_TOKEN_POSITION=position)
    return coop.CustomCLIP(cfg, names, clip_model)


@pytest.mark.parametrize("position", coop.CLASS_TOKEN_POSITIONS)
def test_coop_shared_prefix_equals_full_sequences(fp32_clip, position):
    model = coop_model(fp32_clip, True, position)
    assert model.prefix_length == {"end": 7, "middle": 4, "front": 1}[position]
    assert_same_features_and_gradients(model, coop_model(fp32_clip, False, position), lambda m: m.encode_text())


def test_coop_prefix_takes_the_words_every_class_name_starts_with(fp32_clip):
    names = ["red fox", "red lily of the valley", "red"]
    model = coop_model(fp32_clip, True, ctx_init="a photo of a", names=names)
    assert model.prefix_length == 1 + 4 + 1  # SOS, "a photo of a", "red"
    assert_same_features_and_gradients(model, coop_model(fp32_clip, False, ctx_init="a photo of a", names=names),
                                       lambda m: m.encode_text())


def test_class_specific_contexts_keep_the_full_sequences(fp32_clip):
    model = coop_model(fp32_clip, True, csc=True)
    assert model.prefix_length == 0
    assert torch.equal(model.encode_text(), coop_model(fp32_clip, False, csc=True).encode_text())


@pytest.mark.parametrize("position", coop.CLASS_TOKEN_POSITIONS)
def test_switch_off_is_the_full_sequence_path_bit_for_bit(fp32_clip, position):
    model = coop_model(fp32_clip, False, position)
    text = model.text_encoder(model.prompt_learner(), model.tokenized_prompts)
    assert torch.equal(model.encode_text(), text / text.norm(dim=-1, keepdim=True))


def test_evaluation_without_gradients_is_the_same(fp32_clip):
    shared, full = coop_model(fp32_clip, True).eval(), coop_model(fp32_clip, False).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad(), shared.text_features_fixed(), full.text_features_fixed():
        assert_close(shared(images), full(images))


def test_kgcoop_logits_and_distance_equal_full_sequences(fp32_clip):
    def kgcoop_model(shared):
        torch.manual_seed(0)
        cfg = config("KGCOOP", shared, kgcoop.extend_cfg, N_CTX=4)
        return kgcoop.KnowledgeGuidedCLIP(cfg, CLASSNAMES, fp32_clip)

    images = torch.randn(2, 3, 224, 224)
    shared_model, full_model = kgcoop_model(True), kgcoop_model(False)
    assert_same_features_and_gradients(shared_model, full_model, lambda m: torch.cat(
        [m.forward_with_distance(images)[0].flatten(), m.forward_with_distance(images)[1].view(1)]))


@pytest.mark.parametrize("precision", ["fp16 weights", "bf16 autocast"])
def test_lower_precisions_agree_with_full_sequences(precision):
    clip_model = build_tiny_clip(width=128, layers=2)  # fp16, as released
    if precision == "bf16 autocast":
        clip_model.float()
    shared, full = coop_model(clip_model, True), coop_model(clip_model, False)
    full.load_state_dict(shared.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16 autocast"):
        got, expected = shared.encode_text(), full.encode_text()
    assert got.dtype == expected.dtype
    assert_close(got.float(), expected.float(), rel=2e-2)


@pytest.mark.parametrize("trainer_name, config_name, n_ctx", [("PLPP", "vit_b16_ep50", 16),
                                                             ("KgCoOp_PLPP", "vit_b16_ep100_ctxv1", 4)])
def test_plpp_reads_its_context_states_from_the_prefix_pass(tmp_path, clip_checkpoint, trainer_name, config_name, n_ctx):
    """One training step: the regulariser's inputs, the logged terms and the update against the
    full sequences; the states are the prefix pass's, with no extra text pass."""
    data_root = make_dataset(str(tmp_path / "data"))
    steps = {}
    for shared in (True, False):
        trainer = build_trainer(train_args(data_root, str(tmp_path / str(shared)), trainer=trainer_name, config=config_name,
                                           opts=["MODEL.SHARED_PREFIX", str(shared)]), seed=1)
        trainer.batch_idx, trainer.num_batches = 0, 10
        received = []
        hook = trainer.regularizer.register_forward_hook(lambda _m, inputs, _out: received.append([t.detach().clone() for t in inputs]))
        with captured_outputs(trainer.model.text_encoder.ln_final) as passes:
            summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))
        hook.remove()
        steps[shared] = (received[0], summary, trainer.model.prompt_learner.ctx.detach().clone(), len(passes))
    (ctx, states), summary, updated, n_passes = steps[True]
    (full_ctx, full_states), full_summary, full_updated, _ = steps[False]
    assert n_passes == 2  # the prefix, then every class's EOT state
    assert torch.equal(ctx, full_ctx) and states.shape == full_states.shape == (1, n_ctx, 64)
    assert_close(states, full_states)
    assert summary.keys() == full_summary.keys()
    for key in summary:
        assert summary[key] == pytest.approx(full_summary[key], rel=1e-5, abs=1e-6), key
    assert_close(updated, full_updated)


# ---- CoCoOp ------------------------------------------------------------------------------------

@pytest.mark.parametrize("memory_bytes", [2 ** 31, 120_000], ids=["one-chunk", "chunked"])
def test_cocoop_prefix_per_image_equals_full_sequences(fp32_clip, memory_bytes):
    def cocoop_model(shared):
        torch.manual_seed(0)
        model = cocoop.CustomCLIP(config("COCOOP", shared, cocoop.extend_cfg, N_CTX=4), CLASSNAMES, fp32_clip)
        model.text_memory_bytes = memory_bytes
        return model

    image_features = torch.nn.functional.normalize(torch.randn(3, 64), dim=-1)
    shared_model = cocoop_model(True)
    if memory_bytes < 2 ** 31:  # blocks of images and of classes, each recomputed in the backward pass
        assert shared_model.sequences_per_chunk(True, 8, 13) < len(CLASSNAMES)
    with torch.no_grad():
        for p in shared_model.prompt_learner.meta_net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    assert_same_features_and_gradients(shared_model, cocoop_model(False), lambda m: m.logits(image_features))


# ---- deep prompts: MaPLe, IVLP (and PromptSRC, which uses IVLP's model) ---------------------

@pytest.mark.parametrize("method", ["MaPLe", "IVLP"])
def test_deep_text_prompts_ride_in_the_prefix_pass(fp32_clip, method):
    def deep_model(shared):
        torch.manual_seed(0)
        if method == "MaPLe":
            learner = maple.MultiModalPromptLearner(config("MAPLE", shared, maple.extend_cfg, PROMPT_DEPTH=2),
                                                    CLASSNAMES, fp32_clip)
        else:
            learner = ivlp.VLPromptLearner(config("IVLP", shared, ivlp.extend_cfg, PROMPT_DEPTH_TEXT=2,
                                                  PROMPT_DEPTH_VISION=2).TRAINER.IVLP,
                                           CLASSNAMES, fp32_clip)
        with torch.no_grad():  # deep prompts that matter
            for prompt in learner.parameters():
                prompt.add_(0.5 * torch.randn_like(prompt))
        return DeepPromptCLIP(learner, fp32_clip, shared_prefix=shared)

    model = deep_model(True)
    assert model.prefix_length == 1 + 4  # SOS, "a photo" learned, "of a" fixed
    assert_same_features_and_gradients(model, deep_model(False), lambda m: m.encode_text(m.prompt_learner()))
