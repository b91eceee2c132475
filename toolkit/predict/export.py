"""Export a learned prompt's class text features, so that plain CLIP classifies without the toolkit.

    python -m toolkit.predict.export RUN_DIR --out features.pt [--classnames FILE]

The file is one ``torch.save`` dict: ``text_features`` [n_cls, embed_dim] (fp32, unit norm),
``classnames``, ``logit_scale``, and where they came from (trainer, run, CLIP checkpoint). With
OpenAI's ``clip`` package and the run's CLIP weights:

    model, preprocess = clip.load("ViT-B/16")          # the run's backbone
    saved = torch.load("features.pt")
    image = model.encode_image(preprocess(Image.open("photo.jpg"))[None]).float()
    probs = (saved["logit_scale"] * F.normalize(image, dim=-1) @ saved["text_features"].t()).softmax(-1)

Only methods whose classifier is plain CLIP's image features against fixed class features can
be exported (CoOp, PLPP, KgCoOp, zero-shot CLIP, ...): CoCoOp's prompts depend on the image,
MaPLe's and IVLP's prompts change the image encoder too. The export checks this on probe
images against the trainer's own logits and refuses, in one line, when they differ.
"""
import argparse
import contextlib
import os
import sys
from typing import Optional, Sequence

import torch
from torch.nn import functional as F

from runtime.status import BAD_INPUT, OK

from .classifier import PromptClassifier
from .run import read_classnames

PROBE_IMAGES = 4
TOLERANCE = 1e-2  # largest logit difference allowed, relative to the largest logit (fp16 runs round)


def class_text_features(trainer) -> Optional[torch.Tensor]:
    """The trainer's fixed class text features [n_cls, D], or None when it has none: zero-shot
    CLIP keeps them (``text_features``), CoOp-family CLIPs encode them (``encode_text()``)."""
    features = getattr(trainer, "text_features", None)
    if not isinstance(features, torch.Tensor):
        encode = getattr(getattr(trainer, "model", None), "encode_text", None)
        if not callable(encode):
            return None
        precision = trainer.autocast() if hasattr(trainer, "autocast") else contextlib.nullcontext()
        try:
            with torch.no_grad(), precision:
                features = encode()
        except TypeError:  # an encode_text that needs more (CoCoOp: each image's context)
            return None
    return F.normalize(features.detach().float(), dim=-1)


def plain_clip(classifier: PromptClassifier):
    """The run's CLIP as ``clip`` loads it, in fp32 on the CPU: what a user without the toolkit has."""
    from trainers.backbone import load_clip_to_cpu

    return load_clip_to_cpu(classifier.record.cfg).float().eval()


def exported_features(classifier: PromptClassifier) -> dict:
    """The export's content, after checking that plain CLIP with it reproduces the trainer's logits."""
    trainer_name = classifier.record.cfg.TRAINER.NAME
    features = class_text_features(classifier.trainer)
    refusal = (f"Cannot export {trainer_name}'s prompt as class features: its classifier is not plain CLIP's image "
               "features against fixed class features (e.g. prompts that depend on the image or change the image encoder)")
    if features is None:
        raise ValueError(refusal)
    model = plain_clip(classifier)
    size = classifier.record.cfg.INPUT.SIZE
    probes = torch.randn(PROBE_IMAGES, 3, size[0], size[1], generator=torch.Generator().manual_seed(0))
    trainer_logits, _ = classifier.logits(probes)
    with torch.no_grad():
        image = F.normalize(model.encode_image(probes).float(), dim=-1)
        logit_scale = float(model.logit_scale.exp())
        plain_logits = logit_scale * image @ features.cpu().t()
    if plain_logits.shape != trainer_logits.shape or \
            (plain_logits - trainer_logits).abs().max() > TOLERANCE * trainer_logits.abs().max().clamp(min=1):
        raise ValueError(refusal)
    cfg = classifier.record.cfg
    return {
        "text_features": features.cpu(),
        "classnames": list(classifier.classnames),
        "logit_scale": logit_scale,
        "trainer": trainer_name,
        "run_dir": os.path.abspath(classifier.record.run_dir),
        "clip": os.environ.get("CLIP_CHECKPOINT") or cfg.MODEL.BACKBONE.PATH or cfg.MODEL.BACKBONE.NAME,
        "input_size": list(size),
    }


def export(classifier: PromptClassifier, path: str) -> dict:
    """Write the checked class features of ``classifier`` to ``path``; returns what was written."""
    content = exported_features(classifier)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(content, path + ".partial")
    os.replace(path + ".partial", path)
    return content


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.predict.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a finished train.py output folder")
    parser.add_argument("--out", required=True, help="the tensor file to write, e.g. features.pt")
    parser.add_argument("--classnames", help="a text file with one class name per line (default: the run's classes)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    try:
        if os.path.exists(args.out) and not args.overwrite:
            raise ValueError(f"{args.out} exists: choose another --out, or pass --overwrite to replace it")
        classnames = read_classnames(args.classnames) if args.classnames else None
        content = export(PromptClassifier.from_run(args.run_dir, classnames), args.out)
    except (OSError, ValueError, KeyError) as e:
        if os.environ.get("PLPP_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT
    n_cls, dim = content["text_features"].shape
    print(f"{args.out}: {content['trainer']} class features for {n_cls} classes (dimension {dim}), "
          f"logit scale {content['logit_scale']:.2f}, for CLIP {content['clip']}")
    return OK


if __name__ == "__main__":
    sys.exit(main())
