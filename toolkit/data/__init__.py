"""``python -m toolkit.data``: get, check and repair the CoOp datasets on disk (usage in ``cli``).

One module per concern: ``progress`` (progress lines), ``fetching`` (resumable, checksummed
downloads, mirrors, Google Drive, unpacking and renames), ``checking`` (missing, corrupt or
miscounted images), ``imagenet_val`` (sorting ImageNet's flat val folder) and ``cli``. Every
dataset fact comes from its ``runtime.catalogue`` record. Importing this package, and the
``download``, ``list`` and ``fold-imagenet-val`` commands, import no torch; ``check`` imports the
dataset classes when it runs.
"""
from .checking import check
from .cli import main
from .fetching import DownloadError, download
from .imagenet_val import fold_imagenet_val

__all__ = ["main", "download", "check", "fold_imagenet_val", "DownloadError"]
