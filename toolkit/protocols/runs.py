"""The runs of each protocol (their ``train.py`` commands and output folders, in the reference
repositories' layouts) and the rules for one output folder: a finished run is skipped unless
forced (then the old folder is kept as ``<folder>.replaced-<time>``), an unfinished one resumes,
an evaluation needs its finished training run. The protocol scripts and the sweep both use
these functions, so a sweep makes exactly the runs the scripts make.

A point of a sweep's ablation grid (``point``: KEY VALUE overrides) is appended to the config
folder's name, ``<cfg>@KEY=V,KEY2=V2`` (``config_folder``), so each point has folders of its
own; without a grid every folder is the scripts' one.
"""
import difflib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import List, Mapping, Optional, Sequence, Tuple

from runtime import catalogue
from runtime.config import config_file_value
from runtime.records import is_finished
from runtime.status import BAD_INPUT

from .methods import ZERO_SHOT, defaults, resolve_params, scripts_dir

SHOTS = 16  # base-to-new and cross-dataset training use 16 shots per class
POINT_MARK = "@"  # <cfg>@KEY=V,...: toolkit.results.discover reads it back
Point = Tuple[Tuple[str, str], ...]  # a grid point: (KEY, VALUE) overrides
CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")
PROTOCOLS = ("base2new", "fewshot", "xd", "dg", "zeroshot")


@dataclass(frozen=True)
class Run:
    """One ``train.py`` call into one output folder."""

    protocol: str
    step: str  # "train" or "test" (evaluation only)
    trainer: str
    dataset: str
    seed: Optional[int]
    output: str  # the run folder
    args: Tuple[str, ...]  # train.py arguments after --root and --output-dir, OPTS excluded
    script: str  # the protocol script call that makes this run (for messages)
    needs: Optional["Run"] = None  # the training run an evaluation loads
    shots: Optional[int] = None
    point: Point = ()  # the grid point's overrides, after OPTS

    @property
    def label(self) -> str:
        parts = [self.protocol, self.step, self.trainer, self.dataset]
        if self.shots is not None and self.protocol == "fewshot":
            parts.append(f"{self.shots}shots")
        if self.seed is not None:
            parts.append(f"seed{self.seed}")
        if self.point:
            parts.append(config_folder("", self.point))
        return " ".join(parts)

    def command(self, root: str, opts: Sequence[str] = (), python: str = sys.executable) -> List[str]:
        return [python, "train.py", "--root", root, "--output-dir", self.output, *self.args, *opts, *point_opts(self.point)]

    def state(self) -> str:
        """``finished``, ``unfinished`` (a folder without ``finished.json``: it resumes) or ``to run``."""
        if is_finished(self.output):
            return "finished"
        return "unfinished" if os.path.isdir(self.output) else "to run"


def config_folder(cfg: str, point: Point = ()) -> str:
    """The config's folder name: ``cfg``, or ``cfg@KEY=V,KEY2=V2`` for a grid point."""
    return cfg + (POINT_MARK + ",".join(f"{key}={value}" for key, value in point) if point else "")


def seed_folder(seed: int) -> str:
    """``seed<S>``; a negative seed (train.py: a random seed, not reproducible) is bad input."""
    if seed < 0:
        raise ValueError(f"seed {seed} is negative, which train.py takes as 'a random seed' (not reproducible); "
                         "give seeds 0 or above, e.g. --seeds 1 2 3")
    return f"seed{seed}"


def protocol_keys(run: Run) -> List[str]:
    """The config keys the protocol itself sets in ``run``'s arguments (and names in its folders)."""
    return [key for key in run.args if CONFIG_KEY.fullmatch(key)]


# Why a key the protocol sets cannot be overridden, and what to use instead.
PROTOCOL_KEY_HINTS = {
    "DATASET.NUM_SHOTS": "the shots are the fewshot protocol's argument (the sweep's --shots, the scripts' SHOTS); "
                         "base-to-new and cross-dataset train on 16 shots, as the papers do",
    "DATASET.SUBSAMPLE_CLASSES": "base-to-new trains on the base classes and evaluates the new ones",
}


def check_protocol_keys(given: Mapping[str, str], runs: Sequence[Run]) -> None:
    """A ValueError when an override (``given``: key -> where it was given, e.g. ``--opts``)
    sets a key that a run's protocol sets itself: the run's folder would name another value."""
    for run in runs:
        for key in protocol_keys(run):
            if key in given:
                params = ", ".join(defaults(run.trainer).params)
                hint = PROTOCOL_KEY_HINTS.get(key, "it is the method's protocol setting and its run folders name it"
                                              + (f" (its script arguments go in --param: {params})" if params else ""))
                raise ValueError(f"{given[key]} sets {key}, which the {run.protocol} protocol sets for {run.trainer} "
                                 f"itself; {hint}")


def need_file(path: str, what: str) -> str:
    """``path`` if it exists, else a ValueError naming the files that do."""
    if not os.path.isfile(path):
        folder = os.path.dirname(path)
        names = sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".yaml")) if os.path.isdir(folder) else []
        raise ValueError(f"{what} not found: {path} (available: {' '.join(names)})")
    return path


def dataset_config(dataset: str) -> str:
    return need_file(f"configs/datasets/{dataset}.yaml", "dataset config")


def trainer_config(trainer: str, cfg: str) -> str:
    folder = "CoOp" if trainer in ZERO_SHOT else defaults(trainer).config_dir(trainer)
    if not os.path.isdir(f"configs/trainers/{folder}"):
        known = sorted(os.listdir("configs/trainers")) + list(ZERO_SHOT)
        close = difflib.get_close_matches(trainer, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(f"unknown method {trainer} (no configs/trainers/{folder}/); {hint}known: {' '.join(known)}")
    return need_file(f"configs/trainers/{folder}/{cfg}.yaml", "trainer config")


def point_opts(point: Point) -> List[str]:
    return [item for pair in point for item in pair]


def last_epoch(config: str, opts: Sequence[str]) -> str:
    """The epoch an evaluation loads: the training run's last (OPTS, else the config, else 10)."""
    return str(config_file_value(config, "OPTIM.MAX_EPOCH", 10, list(opts)))


def _method_opts(trainer: str, params: Mapping[str, str], train: bool) -> Tuple[Tuple[str, ...], str]:
    """The method's fixed overrides (``train``: with its training-only ones) and its folder suffix."""
    row = defaults(trainer)
    values = resolve_params(trainer, params)
    opts = row.opts + row.train_opts if train else row.opts
    return tuple(o.format(**values) for o in opts), row.shots_suffix.format(**values)


def _b2n_script(trainer: str, step: str, dataset: str, seed: int, params: Mapping[str, str]) -> str:
    row = defaults(trainer)
    if row.seeds_inside:
        args = " ".join([dataset, *resolve_params(trainer, params).values()])
    else:
        args = f"{dataset} {seed}"
    return f"bash {scripts_dir(trainer)}/base2new_{step}{row.script_suffix}.sh {args}"


def _base2new_cfg(trainer: str, dataset: str, cfg: Optional[str]) -> str:
    row = defaults(trainer)
    if cfg:
        return cfg
    return row.base2new_imagenet if dataset == "imagenet" and row.base2new_imagenet else row.base2new


def base2new_train(trainer: str, dataset: str, seed: int, output: str, cfg: Optional[str] = None,
                   params: Mapping[str, str] = {}, point: Point = ()) -> Run:
    """Base-to-new, step 1: train on the base classes, 16 shots."""
    cfg = _base2new_cfg(trainer, dataset, cfg)
    method_opts, suffix = _method_opts(trainer, params, train=True)
    args = ("--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config(dataset),
            "--config-file", trainer_config(trainer, cfg), *method_opts,
            "DATASET.NUM_SHOTS", str(SHOTS), "DATASET.SUBSAMPLE_CLASSES", "base")
    folder = os.path.join(output, "base2new", "train_base", dataset, f"shots_{SHOTS}{suffix}", trainer,
                          config_folder(cfg, point), seed_folder(seed))
    return Run("base2new", "train", trainer, dataset, seed, folder, args, _b2n_script(trainer, "train", dataset, seed, params),
               point=point)


def base2new_test(trainer: str, dataset: str, seed: int, output: str, cfg: Optional[str] = None,
                  params: Mapping[str, str] = {}, sub: str = "new", opts: Sequence[str] = (), point: Point = ()) -> Run:
    """Base-to-new, step 2: evaluate the base-trained prompt on the new classes (``sub``), last epoch."""
    train = base2new_train(trainer, dataset, seed, output, cfg, params, point)
    cfg = _base2new_cfg(trainer, dataset, cfg)
    config = trainer_config(trainer, cfg)
    method_opts, suffix = _method_opts(trainer, params, train=False)
    args = ("--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config(dataset),
            "--config-file", config, "--model-dir", train.output, "--load-epoch", last_epoch(config, [*opts, *point_opts(point)]),
            "--eval-only", *method_opts, "DATASET.NUM_SHOTS", str(SHOTS), "DATASET.SUBSAMPLE_CLASSES", sub)
    folder = os.path.join(output, "base2new", f"test_{sub}", dataset, f"shots_{SHOTS}{suffix}", trainer,
                          config_folder(cfg, point), seed_folder(seed))
    return Run("base2new", "test", trainer, dataset, seed, folder, args, _b2n_script(trainer, "test", dataset, seed, params),
               train, point=point)


def fewshot(trainer: str, dataset: str, shots: int, seed: int, output: str, cfg: Optional[str] = None,
            prompt: Optional[Tuple[str, str, str]] = None, point: Point = ()) -> Run:
    """Few-shot learning on all classes; ``prompt`` is CoOp's (CTP, NCTX, CSC), default the method's."""
    if shots < 1:  # train.py reads NUM_SHOTS < 1 as "every training image": not a few-shot run
        raise ValueError(f"{shots} shots: a few-shot run needs 1 or more images per class (0 or less would train "
                         "on the whole training set, which no published table does); give shots such as 1 2 4 8 16")
    row = defaults(trainer)
    cfg = cfg or row.fewshot(shots, dataset)
    prompt = prompt or row.fewshot_prompt
    args = ["--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config(dataset),
            "--config-file", trainer_config(trainer, cfg), *row.fewshot_opts.get(dataset, ())]
    folder = os.path.join(output, dataset, trainer, f"{config_folder(cfg, point)}_{shots}shots")
    script = f"bash {scripts_dir(trainer)}/main.sh {dataset} {cfg}"
    if prompt:
        ctp, nctx, csc = prompt
        node = f"TRAINER.{row.prompt_node}"
        args += [f"{node}.N_CTX", nctx, f"{node}.CSC", csc, f"{node}.CLASS_TOKEN_POSITION", ctp]
        folder = os.path.join(folder, f"nctx{nctx}_csc{csc}_ctp{ctp}")
        script += f" {ctp} {nctx} {shots} {csc}"
    else:
        script = f"bash {scripts_dir(trainer)}/few_shot.sh {dataset} {shots}"
    args += ["DATASET.NUM_SHOTS", str(shots)]
    return Run("fewshot", "train", trainer, dataset, seed, os.path.join(folder, seed_folder(seed)), tuple(args), script,
               shots=shots, point=point)


def xd_train(trainer: str, seed: int, output: str, cfg: Optional[str] = None, point: Point = ()) -> Run:
    """Cross-dataset transfer and domain generalisation, step 1: ImageNet, all classes, 16 shots."""
    cfg = cfg or defaults(trainer).xd
    source = catalogue.SOURCE_DATASET
    args = ("--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config(source),
            "--config-file", trainer_config(trainer, cfg), "DATASET.NUM_SHOTS", str(SHOTS))
    folder = os.path.join(output, source, trainer, f"{config_folder(cfg, point)}_{SHOTS}shots", seed_folder(seed))
    return Run("xd", "train", trainer, source, seed, folder, args,
               f"bash {scripts_dir(trainer)}/xd_train{defaults(trainer).script_suffix}.sh {seed}", point=point)


def xd_test(trainer: str, dataset: str, seed: int, output: str, cfg: Optional[str] = None,
            opts: Sequence[str] = (), point: Point = ()) -> Run:
    """Step 2: evaluate the ImageNet prompt on the full test set of ``dataset``, last epoch."""
    train = xd_train(trainer, seed, output, cfg, point)
    cfg = cfg or defaults(trainer).xd
    config = trainer_config(trainer, cfg)
    args = ("--seed", str(seed), "--trainer", trainer, "--dataset-config-file", dataset_config(dataset),
            "--config-file", config, "--model-dir", train.output, "--load-epoch", last_epoch(config, [*opts, *point_opts(point)]),
            "--eval-only")
    folder = os.path.join(output, "evaluation", trainer, f"{config_folder(cfg, point)}_{SHOTS}shots", dataset, seed_folder(seed))
    protocol = "dg" if dataset in catalogue.DG_TARGETS else "xd"
    return Run(protocol, "test", trainer, dataset, seed, folder, args,
               f"bash {scripts_dir(trainer)}/xd_test{defaults(trainer).script_suffix}.sh {dataset} {seed}", train, point=point)


def zeroshot(trainer: str, dataset: str, cfg: str, output: str, sub: str = "all", point: Point = ()) -> Run:
    """Zero-shot CLIP with the dataset's template (``sub`` base or new: one half of base-to-new)."""
    args = ("--trainer", trainer, "--dataset-config-file", dataset_config(dataset),
            "--config-file", trainer_config(trainer, cfg), "--eval-only", "DATASET.SUBSAMPLE_CLASSES", sub)
    folder = os.path.join(output, trainer, config_folder(cfg, point), dataset)
    script = f"bash scripts/coop/zeroshot.sh {dataset} {cfg}"
    if sub != "all":
        folder = os.path.join(output, "base2new", f"test_{sub}", dataset, f"shots_{SHOTS}", trainer,
                              config_folder(cfg, point), "zeroshot")
        script = f"SUB={sub} {script}"
    return Run("zeroshot", f"test_{sub}" if sub != "all" else "test", trainer, dataset, None, folder, args, script,
               point=point)


def default_datasets(protocol: str) -> Tuple[str, ...]:
    """What ``--datasets all`` means: the 11 benchmarks, or the targets of xd / dg."""
    return {"xd": catalogue.XD_TARGETS, "dg": catalogue.DG_TARGETS}.get(protocol, catalogue.BENCHMARKS)


def expand(protocol: str, trainers: Sequence[str], datasets: Sequence[str], seeds: Sequence[int], output: str,
           shots: Sequence[int] = (1, 2, 4, 8, 16), opts: Sequence[str] = (), cfg: Optional[str] = None,
           params: Mapping[str, str] = {}, point: Point = ()) -> List[Run]:
    """Every run of a protocol (at one grid ``point``), training runs before the evaluations that
    load them, without repeats (cross-dataset and domain generalisation share their ImageNet runs)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol}; choose from {', '.join(PROTOCOLS)}")
    datasets = list(default_datasets(protocol)) if list(datasets) in ([], ["all"]) else list(datasets)
    unknown = sorted(set(params) - {name for t in trainers for name in defaults(t).params})
    if unknown:
        resolve_params(trainers[0], {name: params[name] for name in unknown})  # raises, naming the parameters
    runs: List[Run] = []
    for trainer in trainers:
        if (protocol == "zeroshot" and trainer not in ZERO_SHOT) or (
                trainer in ZERO_SHOT and protocol not in ("zeroshot", "base2new")):
            raise ValueError(f"{trainer} has no {protocol} runs; zero-shot trainers ({', '.join(ZERO_SHOT)}) "
                             f"go with the zeroshot and base2new protocols only")
        row = defaults(trainer)
        if trainer not in ZERO_SHOT and protocol not in row.protocols:
            raise ValueError(f"{trainer} has no {protocol} runs: {row.refusal}; it runs {', '.join(row.protocols)} only")
        trainer_params = {k: v for k, v in params.items() if k in defaults(trainer).params}
        for dataset in datasets:
            if protocol == "zeroshot":
                runs.append(zeroshot(trainer, dataset, cfg or "vit_b16", output, point=point))
                continue
            if trainer in ZERO_SHOT:  # base-to-new: zero-shot CLIP's row, once (no seeds)
                runs += [zeroshot(trainer, dataset, cfg or "vit_b16", output, sub, point) for sub in ("base", "new")]
                continue
            for seed in seeds:
                if protocol == "base2new":
                    runs += [base2new_train(trainer, dataset, seed, output, cfg, trainer_params, point),
                             base2new_test(trainer, dataset, seed, output, cfg, trainer_params, opts=opts, point=point)]
                elif protocol == "fewshot":
                    runs += [fewshot(trainer, dataset, k, seed, output, cfg, point=point) for k in shots]
                else:
                    test = xd_test(trainer, dataset, seed, output, cfg, opts, point)
                    runs += [test.needs, test]
    unique = {run.output: run for run in runs}
    return sorted(unique.values(), key=lambda run: run.step != "train")


# ---- the rules for one output folder -----------------------------------------------------------

def missing_dependency(run: Run) -> Optional[str]:
    """The error line of an evaluation whose training run is not finished, else None."""
    if run.needs is None or is_finished(run.needs.output):
        return None
    what = "ImageNet run" if run.needs.protocol == "xd" else "training run"
    return f"error: no finished {what} at {run.needs.output}; first run: {run.needs.script}"


def prepare(folder: str, force: bool) -> bool:
    """Apply the skip / force / resume rule to ``folder``, saying which; False: skip it."""
    if is_finished(folder):
        if not force:
            print(f"skip: {folder} is finished (rerun with --force or FORCE=1)", flush=True)
            return False
        kept = f"{folder}.replaced-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        os.rename(folder, kept)
        print(f"force: previous results kept in {kept}", flush=True)
    elif os.path.isdir(folder):
        print(f"resume: {folder} holds an unfinished run", flush=True)
    print(f"run: {folder}", flush=True)
    return True


def execute(folder: str, command: Sequence[str], force: bool = False, **popen) -> int:
    """Run ``command`` (a train.py call into ``folder``) under the rules; its exit status."""
    if not prepare(folder, force):
        return 0
    return subprocess.call(list(command), **popen)


def execute_run(run: Run, root: str, opts: Sequence[str] = (), force: bool = False, python: str = sys.executable,
                **popen) -> int:
    """``execute`` for a protocol run: an evaluation without its finished training run is bad input."""
    problem = missing_dependency(run)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        return BAD_INPUT
    return execute(run.output, run.command(root, opts, python), force, **popen)
