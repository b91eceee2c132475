"""dassl.optim: optimisers and Dassl's per-epoch LR schedules, including resuming mid-run.

Expected LRs are computed here from the contract's formulas (written out below), not by the code
under test: epoch 1 = WARMUP_CONS_LR, then LR * (1 + cos(pi * (k - 1 - W) / E)) / 2 for the
epochs k > W after W warmup epochs.
"""
import io
import math
import pickle

import pytest
import torch
import torch.nn as nn

from dassl.config import get_cfg_default
from dassl.optim import build_lr_scheduler, build_optimizer


def cosine(lr: float, max_epoch: int, epoch: int, warmup: int = 0) -> float:
    """The cosine schedule's LR in (1-based) ``epoch``, restarted after ``warmup`` epochs."""
    return lr * (1 + math.cos(math.pi * (epoch - 1 - warmup) / max_epoch)) / 2


def constant_warmup_cosine(lr: float, max_epoch: int, warmup_lr: float = 1e-5) -> list:
    """CoOp's schedule: one constant warmup epoch, then the cosine counted from the warmup's end."""
    return [warmup_lr] + [cosine(lr, max_epoch, k, warmup=1) for k in range(2, max_epoch + 1)]


COOP_E5 = constant_warmup_cosine(0.002, 5)  # the contract's example


def optim_cfg(**values):
    cfg = get_cfg_default().OPTIM
    cfg.NAME = "sgd"
    for key, value in values.items():
        setattr(cfg, key, value)
    return cfg


def coop_cfg(max_epoch=5, lr=0.002):
    return optim_cfg(
        LR=lr, MAX_EPOCH=max_epoch, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5
    )


def build(cfg):
    model = nn.Linear(3, 2)
    optimizer = build_optimizer(model, cfg)
    return model, optimizer, build_lr_scheduler(optimizer, cfg)


def epoch_lrs(optimizer, scheduler, epochs):
    """LR used in each epoch when the scheduler is stepped once per epoch, as the trainers do."""
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("max_epoch,lr", [(5, 0.002), (10, 0.0035)])  # CoOp's example, a MaPLe setting
def test_constant_warmup_cosine_matches_dassl(max_epoch, lr):
    _, optimizer, scheduler = build(coop_cfg(max_epoch, lr))
    lrs = epoch_lrs(optimizer, scheduler, max_epoch)
    assert lrs == pytest.approx(constant_warmup_cosine(lr, max_epoch), rel=1e-12)
    assert lrs[1] == lr  # the cosine restarts at the full LR after the warmup epoch


def test_linear_warmup_cosine_matches_dassl():
    # Two linear warmup epochs from 1e-5: min_lr, LR * 1/2, then the cosine from LR.
    cfg = optim_cfg(LR=0.01, MAX_EPOCH=6, LR_SCHEDULER="cosine", WARMUP_EPOCH=2, WARMUP_TYPE="linear")
    _, optimizer, scheduler = build(cfg)
    expected = [1e-5, 0.01 / 2] + [cosine(0.01, 6, k, warmup=2) for k in range(3, 7)]
    assert epoch_lrs(optimizer, scheduler, 6) == pytest.approx(expected, rel=1e-12)


def test_warmup_without_recount_matches_dassl():
    # The cosine is not restarted: it takes over at step 1 from LR and continues with torch's
    # recursive formula lr_t = lr_{t-1} * (1 + cos(pi t / E)) / (1 + cos(pi (t - 1) / E)).
    cfg = coop_cfg()
    cfg.WARMUP_RECOUNT = False
    _, optimizer, scheduler = build(cfg)
    expected = [1e-5] + [0.002 * (1 + math.cos(math.pi * (k - 1) / 5)) / (1 + math.cos(math.pi / 5)) for k in range(2, 6)]
    assert epoch_lrs(optimizer, scheduler, 5) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "values,expected",
    [
        (
            dict(LR=0.1, MAX_EPOCH=7, LR_SCHEDULER="single_step", STEPSIZE=(3,), GAMMA=0.5),
            [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025],
        ),
        (dict(LR=0.1, MAX_EPOCH=4, LR_SCHEDULER="single_step"), [0.1] * 4),  # STEPSIZE -1: the whole run
        (
            dict(LR=0.1, MAX_EPOCH=7, LR_SCHEDULER="multi_step", STEPSIZE=(2, 5), WARMUP_EPOCH=1,
                 WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-3),
            [1e-3, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001],
        ),
    ],
)  # fmt: skip
def test_step_schedules_match_dassl(values, expected):
    _, optimizer, scheduler = build(optim_cfg(**values))
    assert epoch_lrs(optimizer, scheduler, values["MAX_EPOCH"]) == pytest.approx(expected)


def save_and_reload(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_resume_from_state_dicts_continues_the_schedule(stop_after):
    _, optimizer, scheduler = build(coop_cfg())
    before = epoch_lrs(optimizer, scheduler, stop_after)
    state = save_and_reload({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})
    assert "successor" not in state["scheduler"]  # the inner scheduler is stored as its state

    _, new_optimizer, new_scheduler = build(coop_cfg())
    new_optimizer.load_state_dict(state["optimizer"])
    new_scheduler.load_state_dict(state["scheduler"])
    after = epoch_lrs(new_optimizer, new_scheduler, 5 - stop_after)
    assert before + after == pytest.approx(COOP_E5, rel=1e-12)


def test_resume_from_real_dassl_scheduler_state_updates_the_live_inner_scheduler():
    # Real Dassl's warmup state dict holds the inner scheduler object itself under "successor".
    _, optimizer, scheduler = build(coop_cfg())
    epoch_lrs(optimizer, scheduler, 2)
    dassl_state = {k: v for k, v in scheduler.state_dict().items() if k != "successor_state"}
    dassl_state.update(successor=scheduler.successor, verbose=False)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": dassl_state}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer, weights_only=True)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)

    _, new_optimizer, new_scheduler = build(coop_cfg())
    live_inner = new_scheduler.successor
    new_optimizer.load_state_dict(state["optimizer"])
    new_scheduler.load_state_dict(state["scheduler"])
    assert new_scheduler.successor is live_inner
    assert epoch_lrs(new_optimizer, new_scheduler, 3) == pytest.approx(COOP_E5[2:], rel=1e-12)


def test_sgd_optimizer_takes_every_parameter_and_the_config():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)  # frozen parameters stay in the optimizer, as in Dassl
    optimizer = build_optimizer(model, optim_cfg(LR=0.01, WEIGHT_DECAY=1e-3, MOMENTUM=0.8, SGD_NESTEROV=True))
    assert isinstance(optimizer, torch.optim.SGD)
    assert len(optimizer.param_groups[0]["params"]) == 4
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["momentum"], group["nesterov"]) == (0.01, 1e-3, 0.8, True)


@pytest.mark.parametrize(
    "name,cls,amsgrad",
    [("adam", torch.optim.Adam, False), ("amsgrad", torch.optim.Adam, True), ("adamw", torch.optim.AdamW, False)],
)
def test_adam_family(name, cls, amsgrad):
    optimizer = build_optimizer(nn.Linear(2, 2), optim_cfg(NAME=name, ADAM_BETA1=0.8, ADAM_BETA2=0.9))
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.9)
    assert optimizer.param_groups[0]["amsgrad"] is amsgrad


def test_rmsprop_uses_alpha():
    optimizer = build_optimizer(nn.Linear(2, 2), optim_cfg(NAME="rmsprop", RMSPROP_ALPHA=0.95))
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.param_groups[0]["alpha"] == 0.95


def test_staged_lr_gives_new_layers_the_full_lr():
    model = nn.Sequential()
    model.add_module("backbone", nn.Linear(3, 4))
    model.add_module("head", nn.Linear(4, 2))
    cfg = optim_cfg(LR=0.1, STAGED_LR=True, NEW_LAYERS=("head",), BASE_LR_MULT=0.1)
    base, new = build_optimizer(model, cfg).param_groups
    assert base["lr"] == pytest.approx(0.01) and new["lr"] == 0.1
    assert base["params"] == list(model.backbone.parameters())
    assert new["params"] == list(model.head.parameters())


def test_explicit_param_groups_are_used():
    params = [nn.Parameter(torch.zeros(2))]
    optimizer = build_optimizer(None, optim_cfg(), param_groups=[{"params": params, "lr": 0.5}])
    assert optimizer.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize(
    "values,message",
    [
        (dict(NAME="sgdd"), 'Unknown OPTIM.NAME "sgdd"'),
        (dict(NAME="radam"), "RAdam is not bundled"),
    ],
)
def test_bad_optimizer_names(values, message):
    with pytest.raises(ValueError, match=message):
        build_optimizer(nn.Linear(2, 2), optim_cfg(**values))


@pytest.mark.parametrize(
    "values,error,message",
    [
        (dict(LR_SCHEDULER="cosin"), ValueError, 'Unknown OPTIM.LR_SCHEDULER "cosin"'),
        (dict(LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="exp"), ValueError, 'Unknown OPTIM.WARMUP_TYPE "exp"'),
        (dict(LR_SCHEDULER="multi_step", STEPSIZE=3), TypeError, "list of epochs for multi_step"),
        (dict(LR_SCHEDULER="single_step", STEPSIZE=(2.5,)), TypeError, "must be an int for single_step"),
    ],
)
def test_bad_scheduler_settings(values, error, message):
    optimizer = build_optimizer(nn.Linear(2, 2), optim_cfg())
    with pytest.raises(error, match=message):
        build_lr_scheduler(optimizer, optim_cfg(**values))
