"""Where an open_clip backbone comes from: its name, weights file and preprocessing, found
without loading it (``trainers/open_clip_backbone.py`` loads it).

``MODEL.BACKBONE.NAME`` takes open_clip's names as open_clip takes them: a model name with
``MODEL.BACKBONE.PRETRAINED`` set to a pretrained tag (``ViT-B-16`` + ``laion2b_s34b_b88k``) or
to a local checkpoint file, or an ``hf-hub:org/repo`` / ``local-dir:/folder`` id. OpenAI's names
without PRETRAINED (``ViT-B/16``, ``RN50``) keep the ``clip`` package path, unchanged.

- Weights: ``MODEL.BACKBONE.PATH`` (a tag's file), a file given as PRETRAINED, open_clip's caches
  (read with the Hugging Face hub offline first, so a cached model never waits for the network),
  else a download; when none works, one line says what to download and where to put it.
- Preprocessing (size, mean/std, interpolation, resize mode) from the model's own config goes into
  ``INPUT.*`` before the data are built (``input_settings``, called by ``runtime/cli.py``).
- The feature cache's key and the run record name the backbone (``backbone_identity``,
  ``backbone_record``: name, tag, weights file, SHA-256).
"""
import contextlib
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, TypeVar

from .backbone import clip

SCHEMAS = ("hf-hub:", "local-dir:")
RESIZE_MODES = ("shortest", "longest", "squash")
T = TypeVar("T")
_SHA256: Dict[tuple, str] = {}  # (path, size, mtime) -> sha256 of the weights file, once per process


def extend_cfg(cfg) -> None:
    """``MODEL.BACKBONE.PRETRAINED`` and ``INPUT.RESIZE_MODE`` (module docstring)."""
    cfg.MODEL.BACKBONE.PRETRAINED = ""  # open_clip only: a pretrained tag or a local checkpoint file [ours]
    cfg.INPUT.RESIZE_MODE = "shortest"  # test resize: shortest (crop, CLIP), squash (SigLIP) or longest (pad) [ours]


def uses_open_clip(cfg) -> bool:
    """Whether the backbone is open_clip's: a PRETRAINED tag or file, a schema id, or a name only
    open_clip knows. OpenAI's names without PRETRAINED stay on the ``clip`` package."""
    name, pretrained = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.get("PRETRAINED", "")
    if pretrained or name.startswith(SCHEMAS):
        return True
    if name in clip.available_models():
        return False
    import open_clip

    return name.replace("/", "-") in open_clip.list_models()


# ---------------------------------------------------------------------------------------------
# Where the model and its weights come from (no download unless they are missing)
# ---------------------------------------------------------------------------------------------
class Source(NamedTuple):
    name: str  # as open_clip takes it ("ViT-B-16", "hf-hub:org/repo", "local-dir:/folder")
    pretrained: str  # tag or file ("" with a schema)
    model_cfg: dict
    preprocess: dict  # open_clip's PreprocessCfg fields: size, mean, std, interpolation, resize_mode
    weights: str  # the local weights file


def one_line(error: BaseException, limit: int = 160) -> str:
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """The Hugging Face hub in offline mode: its files come from the local cache at once, instead
    of after a minute of retries when there is no network."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def cache_first(fetch: Callable[[], T]) -> T:
    """``fetch()`` from the local caches only; when that fails, once more with downloads allowed."""
    try:
        with hub_offline():
            return fetch()
    except Exception:
        return fetch()


def _schema_config(name: str) -> dict:
    """The open_clip_config.json of an hf-hub or local-dir model."""
    from open_clip.factory import _get_hf_config

    if name.startswith("local-dir:"):
        path = os.path.join(name[len("local-dir:"):], "open_clip_config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: no {path}; the folder must hold open_clip_config.json and the weights "
                                    "(open_clip_model.safetensors), as on the Hugging Face hub")
        with open(path) as f:
            return json.load(f)
    return cache_first(lambda: _get_hf_config(name[len("hf-hub:"):]))


def _schema_weights(name: str) -> str:
    """The weights file of an hf-hub or local-dir model."""
    from open_clip.factory import _find_checkpoint_in_dir
    from open_clip.pretrained import download_pretrained_from_hf

    if name.startswith("local-dir:"):
        found = _find_checkpoint_in_dir(Path(name[len("local-dir:"):]))
        if not found:
            raise FileNotFoundError(f"{name}: no weights file (open_clip_model.safetensors) in that folder")
        return found
    return cache_first(lambda: download_pretrained_from_hf(name[len("hf-hub:"):]))


def resolve(cfg, locate_weights: bool = True) -> Source:
    """The model config, preprocessing and weights file of the configured open_clip backbone.

    Weights come from ``MODEL.BACKBONE.PATH`` (a local file for a tag), a local file given as
    PRETRAINED, open_clip's caches (the Hugging Face hub cache, ~/.cache/clip), or a download when
    they are missing there; when none works, one line says which file to place where.
    """
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    name, pretrained = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.get("PRETRAINED", "")
    local = os.path.abspath(os.path.expanduser(cfg.MODEL.BACKBONE.PATH)) if cfg.MODEL.BACKBONE.get("PATH", "") else ""
    if local and not os.path.isfile(local):
        raise FileNotFoundError(f"MODEL.BACKBONE.PATH {local} does not exist; give the weights file of {name} {pretrained}".rstrip())
    preprocess = asdict(PreprocessCfg())
    weights = ""
    if name.startswith(SCHEMAS):
        if pretrained:
            raise ValueError(f"MODEL.BACKBONE.PRETRAINED must be empty with {name}: the repository or folder holds the weights")
        repo = name[len("hf-hub:"):]
        try:
            config = _schema_config(name)
            weights = local or (_schema_weights(name) if locate_weights else "")
        except Exception as e:
            if name.startswith("local-dir:"):
                raise
            raise FileNotFoundError(
                f"{name} is not in the Hugging Face cache and cannot be downloaded ({one_line(e)}); put "
                f"open_clip_config.json and open_clip_model.safetensors of https://huggingface.co/{repo} in a folder "
                "and set MODEL.BACKBONE.NAME local-dir:<that folder>"
            ) from None
        model_cfg = config.get("model_cfg", config)
        preprocess = merge_preprocess_dict(preprocess, config.get("preprocess_cfg", {}))
    else:
        name = name.replace("/", "-")
        model_cfg = open_clip.get_model_config(name)
        if model_cfg is None:
            raise ValueError(
                f"Unknown backbone {cfg.MODEL.BACKBONE.NAME!r}: neither OpenAI's ({', '.join(clip.available_models())}) "
                "nor an open_clip model (open_clip.list_models(), e.g. ViT-B-16 with MODEL.BACKBONE.PRETRAINED laion2b_s34b_b88k)"
            )
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else {}
        if tag_cfg:
            preprocess = merge_preprocess_dict(preprocess, tag_cfg)
            weights = local or (_tag_weights(name, pretrained, tag_cfg) if locate_weights else "")
        elif pretrained and os.path.isfile(os.path.expanduser(pretrained)):
            weights = os.path.abspath(os.path.expanduser(pretrained))
        elif pretrained and (os.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors", ".npz"))):
            raise FileNotFoundError(f"MODEL.BACKBONE.PRETRAINED {pretrained} does not exist; give an open_clip checkpoint file or a tag")
        else:
            tags = open_clip.list_pretrained_tags_by_model(name)
            raise ValueError(
                f"open_clip model {name} needs MODEL.BACKBONE.PRETRAINED: a local checkpoint file or one of its tags "
                f"({', '.join(tags) or 'none: give a file'}), got {pretrained!r}"
            )
    preprocess["size"] = model_cfg["vision_cfg"].get("image_size", preprocess["size"])
    return Source(name, pretrained, model_cfg, preprocess, weights)


def _tag_weights(name: str, tag: str, tag_cfg: dict) -> str:
    """The weights file of a pretrained tag: cached, or downloaded by open_clip."""
    from open_clip.pretrained import download_pretrained

    try:
        return cache_first(lambda: download_pretrained(tag_cfg))
    except Exception as e:
        repo, filename = os.path.split(tag_cfg.get("hf_hub", ""))
        if repo:
            source = f"{filename or 'open_clip_model.safetensors'} from https://huggingface.co/{repo}"
        else:
            source = tag_cfg.get("url", "") or "the checkpoint"
        raise FileNotFoundError(
            f"open_clip weights {name} {tag} are not cached and cannot be downloaded ({one_line(e)}); download "
            f"{source} and set MODEL.BACKBONE.PATH to the file (keep PRETRAINED {tag}: it sets the preprocessing)"
        ) from None


def weights_sha256(path: str) -> Optional[str]:
    """SHA-256 of a weights file (computed once per process and file version)."""
    if not path or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def backbone_identity(cfg) -> Optional[Dict[str, str]]:
    """What names the backbone's weights in the feature cache's key: None for OpenAI's
    (their key is unchanged), else library version, model name and pretrained tag or file."""
    if not uses_open_clip(cfg):
        return None
    import open_clip

    return {"library": f"open_clip {open_clip.__version__}", "name": cfg.MODEL.BACKBONE.NAME,
            "pretrained": cfg.MODEL.BACKBONE.get("PRETRAINED", "")}


def backbone_record(cfg) -> Dict[str, Optional[str]]:
    """The run record's backbone: name, tag, weights file and its SHA-256 (open_clip), or the
    clip package's name."""
    identity = backbone_identity(cfg)
    if identity is None:
        return {"library": "clip", "name": cfg.MODEL.BACKBONE.NAME}
    try:
        weights = resolve(cfg).weights
    except (OSError, ValueError):
        weights = ""
    return {**identity, "weights": weights or None, "weights_sha256": weights_sha256(weights)}


# ---------------------------------------------------------------------------------------------
# Preprocessing into INPUT.*
# ---------------------------------------------------------------------------------------------
def input_settings(cfg) -> List[str]:
    """Set ``INPUT.SIZE``, ``PIXEL_MEAN``, ``PIXEL_STD``, ``INTERPOLATION`` and ``RESIZE_MODE``
    from an open_clip model's own preprocessing config (cfg not yet frozen); returns
    ``KEY: old -> new`` for each value changed (printed by the caller). OpenAI's backbones: none."""
    if not uses_open_clip(cfg):
        return []
    preprocess = resolve(cfg, locate_weights=False).preprocess
    size = preprocess["size"]
    size = (size, size) if isinstance(size, int) else tuple(size)
    if preprocess["resize_mode"] not in RESIZE_MODES:
        raise ValueError(f"{cfg.MODEL.BACKBONE.NAME}: unsupported resize mode {preprocess['resize_mode']!r}")
    from runtime.engine import select_engine

    if preprocess["resize_mode"] != "shortest" and select_engine() == "real":
        raise ValueError(f"{cfg.MODEL.BACKBONE.NAME} resizes test images with mode {preprocess['resize_mode']!r}, which only "
                         "the bundled engine implements (INPUT.RESIZE_MODE); unset PLPP_DASSL to use it")
    wanted = {"SIZE": size, "PIXEL_MEAN": [float(v) for v in preprocess["mean"]], "PIXEL_STD": [float(v) for v in preprocess["std"]],
              "INTERPOLATION": preprocess["interpolation"], "RESIZE_MODE": preprocess["resize_mode"]}
    changes = []
    for key, value in wanted.items():
        old = cfg.INPUT[key]
        if (tuple(old) if isinstance(old, (list, tuple)) else old) != (tuple(value) if isinstance(value, (list, tuple)) else value):
            changes.append(f"INPUT.{key}: {old} -> {value}")
            cfg.INPUT[key] = value
    return changes
