"""Test setup: make the repository importable and choose the Dassl engine before any import."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from toolkit.engine import select_engine  # noqa: E402

select_engine(verbose=False)

import pytest  # noqa: E402

from toolkit.tiny_clip import save_tiny_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """A tiny random ViT CLIP saved as a TorchScript archive, like the released weights."""
    return save_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny-vit.pt"), fmt="jit")


@pytest.fixture
def clip_checkpoint(tiny_clip_file, monkeypatch):
    """Point every CLIP load at the tiny checkpoint (the loader honours $CLIP_CHECKPOINT)."""
    monkeypatch.setenv("CLIP_CHECKPOINT", tiny_clip_file)
    return tiny_clip_file
