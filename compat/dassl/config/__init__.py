from .defaults import _C as cfg_default


def get_cfg_default():
    """A fresh, mutable copy of the default configuration."""
    return cfg_default.clone()
