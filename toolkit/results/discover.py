"""Finding the runs in the output layouts of this project's scripts and of the reference ones.

This project's scripts keep the reference repositories' layouts, so one walk reads both:
  base-to-new   ``base2new/<part>/<dataset>/shots_<K>[_<W>]/<Trainer>/<cfg>/seed<S>``
                (CoOp/CoCoOp, MaPLe, IVLP, PromptSRC: ``shots_16``; KgCoOp: ``shots_16_<WEIGHT>``)
  few-shot      ``<dataset>/<Trainer>/<cfg>_<K>shots/<settings>/seed<S>`` (CoOp: settings
                ``nctx<N>_csc<C>_ctp<P>``; PromptSRC: no settings folder), and PromptSRC's
                evaluation of given weights ``few_shot/<dataset>/<Trainer>/<cfg>_<K>shots/seed<S>``
                (variant ``few_shot``)
  cross-dataset ``imagenet/<Trainer>/<cfg>_16shots/seed<S>`` then
                ``evaluation/<Trainer>/<cfg>_16shots/<dataset>/seed<S>`` (ImageNet variants: DG);
                CoOp's eval.sh: both with the settings folder after ``<cfg>_16shots``
  zero-shot     ``ZeroshotCLIP*/<cfg>/<dataset>``
A sweep's ablation grid (``--grid KEY=V1,V2``) appends its point to the config folder's name
(``<cfg>@KEY=V,KEY2=V2``, ``<cfg>@KEY=V_<K>shots``): the method's ``point``.
"""
import os
import os.path as osp
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .logs import Run, read_run
from .protocols import DG_TARGETS, SOURCE_DATASET

SEED_DIR = re.compile(r"^seed(\d+)$")
ZEROSHOT_SEED = "zeroshot"  # zero-shot CLIP: one deterministic run instead of seeds
SHOTS_DIR = re.compile(r"^(.+)_(\d+)shots$")
EPOCH_SUFFIX = re.compile(r"_ep\d+$")
B2N_PARTS = ("train_base", "test_base", "test_new")
POINT_MARK = "@"  # <cfg>@<grid point>: toolkit.protocols.runs.config_folder
EVALUATED_FEWSHOT = "few_shot"  # PromptSRC's reproduce_few_shot.sh: eval-only runs of released weights
LAYOUTS = (
    "base2new/{train_base,test_new}/<dataset>/shots_16/<Trainer>/<cfg>/seed<S>",
    "<dataset>/<Trainer>/<cfg>_<K>shots/nctx<N>_csc<C>_ctp<P>/seed<S>",
    "imagenet/<Trainer>/<cfg>_16shots/seed<S> and evaluation/<Trainer>/<cfg>_16shots/<dataset>/seed<S>",
)


@dataclass(frozen=True, order=True)
class Method:
    trainer: str
    cfg: str
    variant: str = ""  # few-shot prompt settings, or a non-standard shots folder
    point: str = ""  # KEY=V,... : an ablation grid's point, or the settings its runs differ in

    @property
    def label(self) -> str:
        text = f"{self.trainer}/{self.cfg}" + (f" {self.variant}" if self.variant else "")
        return text + (f" [{self.point}]" if self.point else "")

    def matches(self, spec: str) -> bool:
        """``spec`` is TRAINER or TRAINER/CFG, case-insensitive."""
        trainer, _, cfg = spec.lower().partition("/")
        return self.trainer.lower() == trainer and (not cfg or self.cfg.lower() == cfg)


@dataclass
class Cell:
    """The seed runs of one method on one dataset for one part of a protocol."""

    protocol: str
    method: Method
    dataset: str
    part: str  # train_base | test_base | test_new | fewshot | source | target
    runs: Dict[str, Run]  # by seed
    shots: Optional[int] = None  # few-shot only; 0 for zero-shot CLIP
    cfg: str = ""  # the config folder (few-shot methods may join several)


def config_and_point(name: str) -> Tuple[str, str]:
    """``vit_b16@OPTIM.LR=0.01`` -> (``vit_b16``, ``OPTIM.LR=0.01``); no point: (name, "")."""
    cfg, _, point = name.partition(POINT_MARK)
    return cfg, point


def subdirs(path: str) -> List[str]:
    """Sorted sub-folders, without hidden ones and the ``*.replaced-<time>`` that --force keeps."""
    if not osp.isdir(path):
        return []
    names = (n for n in os.listdir(path) if not n.startswith(".") and ".replaced-" not in n)
    return sorted(n for n in names if osp.isdir(osp.join(path, n)))


def folders_at(path: str, depth: int) -> Iterator[Tuple[Tuple[str, ...], str]]:
    """(names, folder) for every folder ``depth`` levels below ``path``."""
    if depth == 0:
        yield (), path
        return
    for name in subdirs(path):
        for names, folder in folders_at(osp.join(path, name), depth - 1):
            yield (name,) + names, folder


def seed_key(name: str) -> Optional[str]:
    match = SEED_DIR.match(name)
    return match.group(1) if match else (ZEROSHOT_SEED if name == ZEROSHOT_SEED else None)


def seed_order(seed: str) -> Tuple[int, int, str]:
    return (0, int(seed), "") if seed.isdigit() else (1, 0, seed)


def seed_runs(folder: str, eval_only: bool) -> Dict[str, Run]:
    runs = {}
    for name in subdirs(folder):
        seed = seed_key(name)
        if seed:
            runs[seed] = read_run(osp.join(folder, name), seed, eval_only)
    return runs


def discover_base2new(root: str) -> Iterator[Cell]:
    """``base2new/<part>/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>``; a shots folder other than
    ``shots_16`` (KgCoOp's ``shots_16_<WEIGHT>``) becomes the method's variant."""
    for (part, dataset, shots, trainer, cfg), folder in folders_at(osp.join(root, "base2new"), 5):
        runs = seed_runs(folder, eval_only=part != "train_base") if part in B2N_PARTS else {}
        if runs:
            cfg, point = config_and_point(cfg)
            method = Method(trainer, cfg, "" if shots == "shots_16" else shots, point)
            yield Cell("base2new", method, dataset, part, runs, cfg=cfg)


def discover_trained(root: str, evaluated: str = "") -> Iterator[Cell]:
    """Few-shot ``<dataset>/<Trainer>/<cfg>_<K>shots/<settings>/seed<S>`` (PromptSRC: no settings
    folder) and the cross-dataset source ``imagenet/<Trainer>/<cfg>_16shots/seed<S>``. Below
    ``few_shot/`` the runs are evaluations only; ``evaluated`` names them as the method's variant."""
    for (dataset, trainer, cfg_shots), folder in folders_at(root, 3):
        match = SHOTS_DIR.match(cfg_shots)
        if dataset in ("base2new", "evaluation", EVALUATED_FEWSHOT) or not match:
            continue
        (cfg, point), shots = config_and_point(match.group(1)), int(match.group(2))
        direct = seed_runs(folder, eval_only=bool(evaluated))
        if direct and dataset == SOURCE_DATASET and shots == 16 and not evaluated:
            yield Cell("source", Method(trainer, cfg, point=point), dataset, "source", direct, cfg=cfg)
        elif direct:
            yield Cell("fewshot", Method(trainer, cfg, evaluated, point), dataset, "fewshot", direct, shots, cfg)
        for settings in subdirs(folder):
            runs = {} if seed_key(settings) else seed_runs(osp.join(folder, settings), eval_only=bool(evaluated))
            if runs:
                variant = " ".join(filter(None, (settings, evaluated)))
                yield Cell("fewshot", Method(trainer, cfg, variant, point), dataset, "fewshot", runs, shots, cfg)
            if runs and dataset == SOURCE_DATASET and shots == 16 and not evaluated:  # CoOp's eval.sh source
                yield Cell("source", Method(trainer, cfg, settings, point), dataset, "source", runs, cfg=cfg)


def discover_targets(root: str) -> Iterator[Cell]:
    """``evaluation/<Trainer>/<cfg>_<K>shots/<dataset>/seed<S>``, or with the few-shot settings
    folder before the dataset (``.../<cfg>_16shots/nctx16_cscFalse_ctpend/<dataset>/...``, CoOp's eval.sh)."""
    for (trainer, cfg_shots, name), folder in folders_at(osp.join(root, "evaluation"), 3):
        match = SHOTS_DIR.match(cfg_shots)
        if not match:
            continue
        (cfg, point), shots = config_and_point(match.group(1)), "" if match.group(2) == "16" else f"{match.group(2)}shots"
        runs = seed_runs(folder, eval_only=True)
        if runs:
            found = [("", name, runs)]
        else:  # ``name`` is a settings folder holding the datasets
            found = [(name, dataset, seed_runs(osp.join(folder, dataset), True)) for dataset in subdirs(folder)]
        for settings, dataset, target_runs in found:
            if target_runs:
                method = Method(trainer, cfg, " ".join(filter(None, (settings, shots))), point)
                yield Cell("dg" if dataset in DG_TARGETS else "xd", method, dataset, "target", target_runs, cfg=cfg)


def discover_zeroshot(root: str) -> Iterator[Cell]:
    """``ZeroshotCLIP*/<cfg>/<dataset>``: one run that serves as the zero-shot point of the
    few-shot curves and as the CLIP row of the cross-dataset and DG tables."""
    for (trainer, cfg, dataset), folder in folders_at(root, 3):
        if not trainer.startswith("ZeroshotCLIP"):
            continue
        runs = {ZEROSHOT_SEED: read_run(folder, ZEROSHOT_SEED, eval_only=True)}
        cfg, point = config_and_point(cfg)
        method = Method(trainer, cfg, point=point)
        if dataset not in DG_TARGETS:
            yield Cell("fewshot", method, dataset, "fewshot", runs, 0, cfg)
        if dataset == SOURCE_DATASET:
            yield Cell("source", method, dataset, "source", runs, cfg=cfg)
        else:
            yield Cell("dg" if dataset in DG_TARGETS else "xd", method, dataset, "target", runs, cfg=cfg)


def attach_sources(cells: List[Cell]) -> List[Cell]:
    """The ImageNet source run heads both the cross-dataset and the DG table: put it in each
    protocol where the method has targets (cross-dataset when it has none yet, unless it is a
    few-shot run with settings, which serves as a source only where targets name it)."""
    target_protocols = defaultdict(set)
    for cell in cells:
        if cell.part == "target":
            target_protocols[cell.method].add(cell.protocol)
    attached = []
    for cell in cells:
        if cell.protocol != "source":
            attached.append(cell)
            continue
        for protocol in sorted(target_protocols[cell.method]) or ([] if cell.method.variant else ["xd"]):
            attached.append(replace(cell, protocol=protocol))
    return attached


def join_epoch_configs(cells: List[Cell]) -> None:
    """CoOp's few-shot recipe trains 1 shot with ``<cfg>_ep50``, 2/4 shots with ``<cfg>_ep100`` and
    8/16 shots with ``<cfg>``: show them as one method unless two configs share a dataset and shots."""
    groups = defaultdict(list)
    for cell in cells:
        if cell.protocol == "fewshot" and cell.shots:
            method = cell.method
            groups[(method.trainer, EPOCH_SUFFIX.sub("", method.cfg), method.variant, method.point)].append(cell)
    for (trainer, family, variant, point), group in groups.items():
        slots = [(cell.dataset, cell.shots) for cell in group]
        if len({cell.cfg for cell in group}) > 1 and len(set(slots)) == len(slots):
            for cell in group:
                cell.method = Method(trainer, family, variant, point)


def discover(root: str) -> List[Cell]:
    cells = [
        *discover_base2new(root),
        *discover_trained(root),
        *discover_trained(osp.join(root, EVALUATED_FEWSHOT), evaluated=EVALUATED_FEWSHOT),
        *discover_targets(root),
        *discover_zeroshot(root),
    ]
    join_epoch_configs(cells)
    return attach_sources(cells)


def select(
    cells: List[Cell], protocols: Sequence[str], trainers: Sequence[str], cfgs: Sequence[str], baseline: str
) -> List[Cell]:
    """Cells of the chosen protocols and trainers/configs; the baseline's cells always stay."""
    trainers, cfgs = {t.lower() for t in trainers}, {c.lower() for c in cfgs}

    def chosen(cell: Cell) -> bool:
        if baseline and cell.method.matches(baseline):
            return True
        trainer_ok = not trainers or cell.method.trainer.lower() in trainers
        return trainer_ok and (not cfgs or bool({cell.cfg.lower(), cell.method.cfg.lower()} & cfgs))

    return [cell for cell in cells if cell.protocol in protocols and chosen(cell)]
