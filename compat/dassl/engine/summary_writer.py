"""TensorBoard writer, imported only when training starts; a no-op without ``tensorboard``."""
from typing import Any


class NullWriter:
    """Accepts and drops everything a ``SummaryWriter`` would write."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def open_summary_writer(log_dir: str) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("Note: tensorboard is not installed, so no training curves are written (pip install tensorboard)")
        return NullWriter()
    return SummaryWriter(log_dir=log_dir)
