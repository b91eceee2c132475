"""toolkit.engine.select_engine: which ``dassl`` gets imported, checked in fresh interpreters."""
import os
import subprocess
import sys
import textwrap

import pytest

from toolkit.engine import BUNDLED_DIR

REPO = os.path.dirname(BUNDLED_DIR)
REPORT_ENGINE = """
from toolkit.engine import select_engine
kind = select_engine()
import dassl
print(kind, getattr(dassl, "ENGINE_NAME", "other"), dassl.__file__)
"""
CONFIG = """
from yacs.config import CfgNode
def get_cfg_default():
    cfg = CfgNode()
    cfg.OPTIM = CfgNode()
    cfg.OPTIM.LR_SCHEDULER = "single_step"
    cfg.OPTIM.WARMUP_EPOCH = -1
    cfg.OPTIM.WARMUP_TYPE = "linear"
    return cfg
"""
# Real Dassl HEAD on torch >= 2.7: imports fine, crashes when building the warmup scheduler.
BROKEN_OPTIM = """
def build_lr_scheduler(optimizer, optim_cfg):
    raise TypeError("LRScheduler.__init__() takes from 2 to 3 positional arguments but 4 were given")
"""
WORKING_OPTIM = """
def build_lr_scheduler(optimizer, optim_cfg):
    return None
"""


def fake_dassl(root, optim_source):
    """A ``dassl`` package under ``root`` with a config and the given ``dassl.optim``."""
    for module, source in {"__init__": '__version__ = "0.6.3"\n', "config": CONFIG, "optim": optim_source}.items():
        path = root / "dassl" / (module + ".py" if module != "__init__" else "__init__.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return str(root)


def run(choice=None, pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PLPP_DASSL", "PYTHONPATH")}
    if choice:
        env["PLPP_DASSL"] = choice
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", REPORT_ENGINE], cwd=REPO, env=env, capture_output=True, text=True)


def test_bundled_is_forced_and_reported():
    result = run("bundled")
    assert result.returncode == 0, result.stderr
    report, kind = result.stdout.splitlines()
    assert report == (
        f"Engine: bundled Dassl-compatible engine ({BUNDLED_DIR}); real Dassl not used: forced by PLPP_DASSL=bundled"
    )
    assert kind == f"bundled plpp-compat {os.path.join(BUNDLED_DIR, 'dassl', '__init__.py')}"


def test_broken_real_dassl_is_rejected(tmp_path):
    result = run(pythonpath=fake_dassl(tmp_path, BROKEN_OPTIM))
    assert result.returncode == 0, result.stderr
    report, kind = result.stdout.splitlines()
    bundled = f"Engine: bundled Dassl-compatible engine ({BUNDLED_DIR})"
    assert report.startswith(bundled + "; real Dassl not used: TypeError: LRScheduler.__init__() takes")
    assert kind.startswith("bundled plpp-compat " + BUNDLED_DIR)


def test_requiring_a_broken_real_dassl_fails(tmp_path):
    result = run("real", pythonpath=fake_dassl(tmp_path, BROKEN_OPTIM))
    assert result.returncode != 0
    assert "RuntimeError: PLPP_DASSL=real but no working Dassl is installed (TypeError: " in result.stderr


def test_working_real_dassl_is_preferred(tmp_path):
    fake_root = fake_dassl(tmp_path, WORKING_OPTIM)
    result = run(pythonpath=fake_root)
    assert result.returncode == 0, result.stderr
    report, kind = result.stdout.splitlines()
    assert report == f"Engine: real Dassl 0.6.3 ({os.path.join(fake_root, 'dassl')})"
    assert kind == f"real other {os.path.join(fake_root, 'dassl', '__init__.py')}"


@pytest.mark.parametrize("choice", ["Bundled ", "fake"])
def test_engine_choice_is_validated(choice):
    result = run(choice)
    if choice.strip().lower() == "bundled":
        assert result.returncode == 0  # case and spaces do not matter
    else:
        assert "PLPP_DASSL must be auto, bundled or real, got 'fake'" in result.stderr
