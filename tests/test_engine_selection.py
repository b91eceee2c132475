"""runtime.engine: which ``dassl`` gets imported, checked in fresh interpreters.

The bundled engine is the default whatever is installed; an installed Dassl is used only when
``PLPP_DASSL=real`` asks for it, and must then work.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from runtime.engine import BUNDLED_DIR

REPO = os.path.dirname(BUNDLED_DIR)
REPORT_ENGINE = """
import runtime
from runtime.engine import engine_description, select_engine
import dassl
print(select_engine(), getattr(dassl, "ENGINE_NAME", "other"), dassl.__file__)
print(engine_description())
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
    if choice is not None:
        env["PLPP_DASSL"] = choice
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", REPORT_ENGINE], cwd=REPO, env=env, capture_output=True, text=True)


BUNDLED_INIT = os.path.join(BUNDLED_DIR, "dassl", "__init__.py")


@pytest.mark.parametrize("choice", [None, "", "bundled", " Bundled "])
def test_bundled_is_the_default(choice):
    result = run(choice)
    assert result.returncode == 0, result.stderr
    kind, description = result.stdout.splitlines()
    assert kind == f"bundled plpp-compat {BUNDLED_INIT}"
    assert description == f"bundled Dassl-compatible engine ({BUNDLED_DIR})"


def test_an_installed_working_dassl_is_not_used_unless_asked_for(tmp_path):
    result = run(pythonpath=fake_dassl(tmp_path, WORKING_OPTIM))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"bundled plpp-compat {BUNDLED_INIT}"


@pytest.mark.slow
def test_real_dassl_when_asked_for(tmp_path):
    fake_root = fake_dassl(tmp_path, WORKING_OPTIM)
    result = run("real", pythonpath=fake_root)
    assert result.returncode == 0, result.stderr
    kind, description = result.stdout.splitlines()
    assert kind == f"real other {os.path.join(fake_root, 'dassl', '__init__.py')}"
    assert description == f"real Dassl 0.6.3 ({os.path.join(fake_root, 'dassl')}), asked for with PLPP_DASSL=real (not covered by CI)"


@pytest.mark.slow
def test_asking_for_a_broken_real_dassl_fails_saying_why(tmp_path):
    result = run("real", pythonpath=fake_dassl(tmp_path, BROKEN_OPTIM))
    assert result.returncode != 0
    assert "RuntimeError: PLPP_DASSL=real but no working Dassl is installed (TypeError: LRScheduler" in result.stderr
    assert "unset PLPP_DASSL to use the bundled engine" in result.stderr


@pytest.mark.slow
def test_asking_for_real_dassl_without_one_installed_fails():
    result = run("real")
    assert result.returncode != 0
    assert "PLPP_DASSL=real but no working Dassl is installed (ModuleNotFoundError: No module named 'dassl')" in result.stderr


def test_engine_choice_is_validated():
    result = run("auto")
    assert result.returncode != 0
    assert "PLPP_DASSL must be bundled (the default) or real, got 'auto'" in result.stderr
