"""trainers/plpp.py dropped alone into the reference CoOp repository (KaiyangZhou/CoOp).

The reference's ``trainers/coop.py`` has no shared trainer base: its ``CoOp`` builds CLIP and the
prompt learner in ``build_model`` and steps in its own ``forward_backward``. The file must then
train with only CoOp's public names. Here a stand-in for that reference ``CoOp``, written to its
public surface (the same attribute names, no ``compute_loss``/``autocast``/``optimizer_step``),
is put behind ``.coop`` and plpp.py is loaded against it, as the two documented lines do.
"""
import ast
import importlib.util
import os
import sys
import types

import pytest
import torch
from torch.nn import functional as F

from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.optim import build_lr_scheduler, build_optimizer
from runs import REPO, make_dataset, train_args
from trainers.backbone import load_clip_to_cpu
from trainers.coop import CustomCLIP

PLPP_FILE = os.path.join(REPO, "trainers", "plpp.py")
# What plpp.py may import: the names the reference CoOp repository also has.
ALLOWED_IMPORTS = {"contextlib", "math", "typing", "torch", "torch.nn", "torch.nn.functional", "torch.utils.checkpoint", "yacs.config", "dassl.engine", "dassl.metrics"}
ALLOWED_FROM_COOP = {"CoOp", "load_clip_to_cpu"}


class ReferenceShapedCoOp(TrainerX):
    """The reference CoOp's public surface: fp32 here, so its step is Dassl's own."""

    def build_model(self):
        clip_model = load_clip_to_cpu(self.cfg).float()
        self.model = CustomCLIP(self.cfg, self.dm.dataset.classnames, clip_model)
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)
        self.model.to(self.device)
        self.optim = build_optimizer(self.model.prompt_learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
        self.scaler = None

    def forward_backward(self, batch):  # never reached by PLPP: the drop-in brings its own step
        image, label = self.parse_batch_train(batch)
        loss = F.cross_entropy(self.model(image), label)
        self.model_backward_and_update(loss)
        return {"loss": loss.item()}

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)


def test_plpp_imports_only_what_the_reference_coop_repository_has():
    tree = ast.parse(open(PLPP_FILE).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {alias.name for alias in node.names} <= ALLOWED_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: the reference repository's trainers package
                assert node.module == "coop" and {a.name for a in node.names} <= ALLOWED_FROM_COOP, ast.dump(node)
            else:
                assert node.module in ALLOWED_IMPORTS, ast.dump(node)


@pytest.fixture
def dropped_in_plpp(monkeypatch):
    """plpp.py loaded as ``reference_trainers.plpp`` with the reference-shaped CoOp as ``.coop``."""
    package = types.ModuleType("reference_trainers")
    package.__path__ = []
    coop = types.ModuleType("reference_trainers.coop")
    coop.CoOp, coop.load_clip_to_cpu = ReferenceShapedCoOp, load_clip_to_cpu
    monkeypatch.setitem(sys.modules, "reference_trainers", package)
    monkeypatch.setitem(sys.modules, "reference_trainers.coop", coop)
    ours = TRAINER_REGISTRY._obj_map.pop("PLPP")  # the reference registers its own PLPP here
    try:
        spec = importlib.util.spec_from_file_location("reference_trainers.plpp", PLPP_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        TRAINER_REGISTRY._obj_map["PLPP"] = ours


def build(data_root, out, opts=()):
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed
    from runtime import cli

    args = cli.build_parser().parse_args(train_args(data_root, str(out), trainer="PLPP", config="vit_b16_ep50",
                                                    opts=["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.PREC", "fp32", *opts]))
    set_random_seed(1)
    trainer = build_trainer(cli.setup_cfg(args))
    trainer.batch_idx, trainer.num_batches = 0, 2
    return trainer


@pytest.mark.parametrize("align", ["same", "next"])
@pytest.mark.parametrize("position", ["end", "front"])
def test_dropped_in_plpp_trains_as_ours_does(dropped_in_plpp, tmp_path, clip_checkpoint, position, align):
    data_root = make_dataset(str(tmp_path / "data"))
    opts = ["TRAINER.COOP.CLASS_TOKEN_POSITION", position, "TRAINER.PLPP.ALIGN", align]
    ours = build(data_root, tmp_path / "ours", opts)
    dropped_in = dropped_in_plpp.PLPP.__mro__
    assert ReferenceShapedCoOp in dropped_in and dropped_in_plpp.ReferenceCoOpHost in dropped_in

    TRAINER_REGISTRY._obj_map["PLPP"] = dropped_in_plpp.PLPP
    reference = build(data_root, tmp_path / "reference", opts)
    assert type(reference) is dropped_in_plpp.PLPP
    assert torch.equal(ours.model.prompt_learner.ctx, reference.model.prompt_learner.ctx)

    batch = next(iter(ours.train_loader_x))
    ours_summary, reference_summary = ours.forward_backward(batch), reference.forward_backward(batch)
    assert list(reference_summary) == ["loss", "ce", "ppl", "inv", "perplexity", "acc"]
    assert reference_summary == pytest.approx(ours_summary, rel=1e-6)
    assert reference_summary["loss"] == pytest.approx(
        reference_summary["ce"] + 0.1 * reference_summary["ppl"] + 0.1 * reference_summary["inv"], rel=1e-6)
    assert (ours.model.prompt_learner.ctx - reference.model.prompt_learner.ctx).abs().max() <= 1e-6
