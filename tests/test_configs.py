"""configs/: every trainer config loads, and every PLPP variant is its host's config plus the
PLPP block (so a PLPP-versus-host comparison differs in the regulariser only)."""
import glob
import os

import pytest
import yaml

from runs import REPO
from runtime.config import default_config, merge_from_file

TRAINER_CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "trainers", "*", "*.yaml")))
PLPP_CONFIGS = [path for path in TRAINER_CONFIGS if os.path.basename(os.path.dirname(path)).endswith("PLPP")]
DEPT_CONFIGS = [path for path in TRAINER_CONFIGS if os.path.basename(os.path.dirname(path)).endswith("_DePT")]


def host_twin(path: str) -> str:
    """configs/trainers/PLPP/x.yaml -> CoOp/x.yaml; <Host>_PLPP/x.yaml -> <Host>/x.yaml."""
    method = os.path.basename(os.path.dirname(path))
    host = "CoOp" if method == "PLPP" else method[: -len("_PLPP")]
    return os.path.join(REPO, "configs", "trainers", host, os.path.basename(path))


def read(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("path", TRAINER_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_every_trainer_config_loads(path):
    cfg = default_config()
    merge_from_file(cfg, os.path.join(REPO, "configs", "datasets", "eurosat.yaml"))
    merge_from_file(cfg, path)


def test_there_are_plpp_configs_for_every_coop_config():
    coop = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "configs", "trainers", "CoOp", "*.yaml"))}
    plpp = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "configs", "trainers", "PLPP", "*.yaml"))}
    assert plpp and plpp <= coop


@pytest.mark.parametrize("path", PLPP_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_plpp_config_is_its_hosts_twin_plus_the_plpp_block(path):
    twin = host_twin(path)
    assert os.path.isfile(twin), f"{path} has no host twin {twin}"
    variant, host = read(path), read(twin)
    block = variant["TRAINER"].pop("PLPP")
    if not variant["TRAINER"]:
        del variant["TRAINER"]
    assert variant == host
    # The block sets the regulariser's keys to the same values in every variant (one default).
    reference = read(os.path.join(REPO, "configs", "trainers", "PLPP", "vit_b16.yaml"))["TRAINER"]["PLPP"]
    assert {key: block[key] for key in reference} == reference and set(block) <= set(default_config().TRAINER.PLPP)



@pytest.mark.parametrize("path", DEPT_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_dept_config_is_its_twin_without_dept_plus_depts_keys(path):
    """<Host>_DePT/x.yaml (and <Host>_PLPP_DePT) = the config without DePT plus DePT's keys, at its defaults."""
    method = os.path.basename(os.path.dirname(path))[: -len("_DePT")]
    twin = os.path.join(REPO, "configs", "trainers", "PLPP" if method == "CoOp_PLPP" else method, os.path.basename(path))
    assert os.path.isfile(twin), f"{path} has no twin without DePT {twin}"
    variant, host = read(path), read(twin)
    defaults = default_config()
    dept_keys = {"TYPE", "WEIGHT", "TEST_TIME_FUSION"}  # the node is shared with LinearProbeCLIP's keys
    assert variant["TRAINER"].pop("LINEAR_PROBE") == {k: defaults.TRAINER.LINEAR_PROBE[k] for k in dept_keys}
    assert variant["TRAINER"].pop("FILM") == dict(defaults.TRAINER.FILM)
    assert variant["OPTIM"].pop("LR_EXP") == defaults.OPTIM.LR_EXP
    if not variant["TRAINER"]:
        del variant["TRAINER"]
    assert variant == host
