"""Host x plug-in trainers (trainers/plugins.py): every registered pair at zero plug-in strength is
exactly its host (loss, log and update), every pair trains and predicts, an impossible pair is
refused in one line."""
import os

import pytest
import torch

from deep_runs import LAYERS
from marks import fast_cases
from runs import REPO, build_trainer, make_dataset, train_args
from testing.tiny_clip import save_tiny_clip
from trainers.plugins import PLUGINS, plugin_trainer, registered_pairs

PAIRS = registered_pairs()
# Each host's prompt settings for a tiny CLIP with LAYERS blocks (deep prompts at depth 2).
HOST_OPTS = {
    "CoOp": ["TRAINER.COOP.N_CTX", "4"],
    "CoCoOp": ["TRAINER.COCOOP.N_CTX", "4"],
    "KgCoOp": [],
    "MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "2"],
    "IVLP": ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "2", "TRAINER.IVLP.PROMPT_DEPTH_VISION", "2"],
    "PromptSRC": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2",
                  "OPTIM.MAX_EPOCH", "2", "TRAINER.PROMPTSRC.GPA_MEAN", "1"],
}
ZERO_STRENGTH = {"PLPP": ["TRAINER.PLPP.PPL_WEIGHT", "0.0", "TRAINER.PLPP.INV_WEIGHT", "0.0"],
                 "DePT": ["TRAINER.LINEAR_PROBE.WEIGHT", "0.0"]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    clip_file = save_tiny_clip(str(folder / "tiny.pt"), fmt="state_dict", layers=LAYERS)
    return make_dataset(str(folder / "data")), clip_file


def config_of(name: str) -> str:
    """The first config of the pair's configs folder: its own, else (a combination without one)
    its host's with DePT, else its host's (every key has a default)."""
    host, plugins = PAIRS[name]
    for folder in (name, f"{host.__name__}_DePT", host.__name__):
        path = os.path.join(REPO, "configs", "trainers", folder)
        if os.path.isdir(path):
            return os.path.join(path, sorted(os.listdir(path))[0])


def build(setup, tmp_path, monkeypatch, trainer: str, config: str, opts=()):
    data_root, clip_file = setup
    monkeypatch.setenv("CLIP_CHECKPOINT", clip_file)
    argv = train_args(data_root, str(tmp_path / trainer), trainer=trainer,
                      opts=["DATASET.SUBSAMPLE_CLASSES", "base", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", *opts])
    argv[argv.index("--config-file") + 1] = config
    trainer = build_trainer(argv, seed=1)
    trainer.batch_idx, trainer.num_batches = 0, 10
    return trainer


def learned(trainer):
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters() if p.requires_grad}


def test_every_host_gets_every_plugin_and_both_under_todays_names():
    hosts = ["CoOp", "CoCoOp", "KgCoOp", "MaPLe", "IVLP", "PromptSRC"]
    assert {host.__name__ for host, _ in PAIRS.values()} == set(hosts)
    plpp = ["PLPP"] + [f"{host}_PLPP" for host in hosts[1:]]  # CoOp's keeps the paper's name
    assert set(PAIRS) == {*plpp, *(f"{host}_DePT" for host in hosts), *(f"{host}_PLPP_DePT" for host in hosts)}
    from dassl.engine import TRAINER_REGISTRY
    from trainers.plpp import PLPP

    assert TRAINER_REGISTRY.get("PLPP") is PLPP and all(name in TRAINER_REGISTRY.registered_names() for name in PAIRS)


@pytest.mark.parametrize("name", fast_cases(sorted(PAIRS), fast=["PLPP", "CoOp_DePT", "MaPLe_PLPP_DePT"]))
def test_zero_strength_is_exactly_the_host(setup, tmp_path, monkeypatch, name):
    host, plugins = PAIRS[name]
    zero = [value for plugin in plugins for value in ZERO_STRENGTH[plugin]]
    opts = [*HOST_OPTS[host.__name__], *zero]
    with_plugins = build(setup, tmp_path, monkeypatch, name, config_of(name), opts)
    alone = build(setup, tmp_path, monkeypatch, host.__name__, config_of(name), opts)
    assert type(alone) is host
    before = learned(alone)
    assert before.keys() == learned(with_plugins).keys()
    assert all(torch.equal(before[k], v) for k, v in learned(with_plugins).items())

    batch = next(iter(alone.train_loader_x))
    assert with_plugins.forward_backward(batch) == alone.forward_backward(batch)  # the same loss and log
    after = learned(alone)
    assert all(torch.equal(after[k], v) for k, v in learned(with_plugins).items())
    assert any(not torch.equal(after[k], before[k]) for k in after)  # the step did update the host


@pytest.mark.parametrize("name", fast_cases(sorted(name for name, (_, plugins) in PAIRS.items() if "DePT" in plugins),
                                            fast=["CoOp_DePT", "MaPLe_PLPP_DePT"]))
def test_every_dept_pair_trains_and_predicts(setup, tmp_path, monkeypatch, name):
    """(PLPP alone on each host: tests/test_<host>.py.)"""
    host, plugins = PAIRS[name]
    trainer = build(setup, tmp_path, monkeypatch, name, config_of(name), HOST_OPTS[host.__name__])
    batch = next(iter(trainer.train_loader_x))
    summary = trainer.forward_backward(batch)
    assert torch.isfinite(torch.tensor(summary["loss"]))
    assert "head_ce" in summary and trainer.head.linear_probe_proj.weight.grad is not None
    if "PLPP" in plugins:
        assert {"ppl", "inv", "perplexity"} <= set(summary)
    trainer.set_model_mode("eval")
    with torch.no_grad():
        logits = trainer.model_inference(batch["img"])
    assert logits.shape == (batch["img"].shape[0], 3) and torch.isfinite(logits).all()


def test_an_impossible_pair_is_refused_in_one_line():
    class NoFeatures:
        plugin_offers = ()
    with pytest.raises(ValueError, match=r"^NoFeatures_DePT cannot work: NoFeatures does not offer clip_features, which DePT needs$"):
        plugin_trainer(NoFeatures, ["DePT"])
    from trainers.zsclip import ZeroshotCLIP  # no learned context for PLPP to score
    with pytest.raises(ValueError, match=r"^ZeroshotCLIP_PLPP cannot work: ZeroshotCLIP does not offer context, which PLPP needs$"):
        plugin_trainer(ZeroshotCLIP, ["PLPP"])
    with pytest.raises(ValueError, match="Unknown plug-in CaPT; the plug-ins are " + ", ".join(PLUGINS)):
        plugin_trainer(NoFeatures, ["CaPT"])


def test_the_results_layer_knows_the_plugins_in_their_order():
    from toolkit.results.aggregate import PLUGINS as RESULT_PLUGINS

    assert RESULT_PLUGINS == tuple(PLUGINS)
