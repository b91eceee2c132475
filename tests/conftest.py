"""Test setup: make the repository importable (which also selects the Dassl engine) and share
the tiny CLIP checkpoint."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import runtime  # noqa: E402,F401  (selects the Dassl engine)

import pytest  # noqa: E402

from testing.tiny_clip import save_tiny_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """A tiny random ViT CLIP saved as a TorchScript archive, like the released weights."""
    return save_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny-vit.pt"), fmt="jit")


@pytest.fixture
def clip_checkpoint(tiny_clip_file, monkeypatch):
    """Point every CLIP load at the tiny checkpoint (the loader honours $CLIP_CHECKPOINT)."""
    monkeypatch.setenv("CLIP_CHECKPOINT", tiny_clip_file)
    return tiny_clip_file


@pytest.fixture(scope="session", autouse=True)
def feature_cache_dir(tmp_path_factory):
    """Evaluations cache image features in this session's temporary folder, never the user's."""
    previous = os.environ.get("PLPP_FEATURE_CACHE_DIR")
    os.environ["PLPP_FEATURE_CACHE_DIR"] = str(tmp_path_factory.mktemp("feature-cache"))
    yield
    if previous is None:
        del os.environ["PLPP_FEATURE_CACHE_DIR"]
    else:
        os.environ["PLPP_FEATURE_CACHE_DIR"] = previous
