"""What the protocol scripts pass per method: its configs, its fixed prompt settings, and the
script arguments beyond DATASET SEED (KgCoOp's penalty weight), as the reference repositories'
scripts do. One row per method; a trainer without a row gets CoOp's settings with its own
configs folder. Torch-free: the scripts and ``--dry-run`` read it at once.
"""
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Mapping, Optional, Tuple


def coop_fewshot_config(shots: int, dataset: str) -> str:
    """CoOp's epochs by shots: 1 shot 50 epochs, 2 and 4 shots 100, 8 and 16 shots 200 (the
    plain config); ImageNet 50 epochs for every shot count."""
    if dataset == "imagenet" or shots == 1:
        return "vit_b16_ep50"
    return "vit_b16_ep100" if shots in (2, 4) else "vit_b16"


@dataclass(frozen=True)
class MethodDefaults:
    """One method's protocol settings (``{NAME}`` in ``opts`` and ``shots_suffix`` is a ``params`` value)."""

    base2new: str = "vit_b16_ctxv1"
    base2new_imagenet: Optional[str] = "vit_b16_ep50_ctxv1"  # None: the same config as the others
    xd: str = "vit_b16_ep50_ctxv1"
    fewshot: Callable[[int, str], str] = coop_fewshot_config
    # CoOp's few-shot prompt arguments (CTP NCTX CSC): a folder level nctx<N>_csc<C>_ctp<P> and
    # TRAINER.<prompt_node>.* overrides; None for methods whose few-shot script has no such level.
    fewshot_prompt: Optional[Tuple[str, str, str]] = ("end", "16", "False")
    prompt_node: str = "COOP"
    configs: str = ""  # configs/trainers/<configs>/, default the trainer's name
    opts: Tuple[str, ...] = ()  # passed to every run of the method
    train_opts: Tuple[str, ...] = ()  # passed to its training runs only
    params: Mapping[str, str] = field(default_factory=dict)  # extra script arguments and their defaults
    shots_suffix: str = ""  # after shots_16 in base-to-new folders
    fewshot_opts: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # per dataset, few-shot only
    scripts: str = ""  # scripts/<folder>/ holding the method's protocol scripts
    script_suffix: str = ""  # after the step in the scripts' names, as the reference names them ("_maple")
    seeds_inside: bool = False  # its base-to-new scripts take DATASET [PARAMS] and loop over the seeds
    protocols: Tuple[str, ...] = ("base2new", "fewshot", "xd", "dg")  # the protocols the method can run
    refusal: str = ""  # why it cannot run the others (one line)

    def config_dir(self, trainer: str) -> str:
        return self.configs or trainer


def _fixed(name: str) -> Callable[[int, str], str]:
    return lambda shots, dataset: name


KGCOOP = MethodDefaults(
    base2new="vit_b16_ep100_ctxv1",
    base2new_imagenet=None,
    prompt_node="KGCOOP",
    opts=("TRAINER.KGCOOP.N_CTX", "4", "TRAINER.KGCOOP.CSC", "False", "TRAINER.KGCOOP.CLASS_TOKEN_POSITION", "end"),
    train_opts=("TRAINER.KGCOOP.W", "{WEIGHT}"),
    params={"WEIGHT": "8.0"},
    shots_suffix="_{WEIGHT}",
    seeds_inside=True,
)
COCOOP = MethodDefaults(base2new="vit_b16_c4_ep10_batch1_ctxv1", base2new_imagenet=None, xd="vit_b16_c4_ep10_batch1_ctxv1",
                        fewshot=_fixed("vit_b16_c4_ep10_batch1_ctxv1"), fewshot_prompt=None, prompt_node="COCOOP")
MAPLE = MethodDefaults(base2new="vit_b16_c2_ep5_batch4_2ctx", base2new_imagenet=None,
                       xd="vit_b16_c2_ep5_batch4_2ctx_cross_datasets", fewshot=_fixed("vit_b16_c2_ep5_batch4_2ctx"),
                       fewshot_prompt=None, prompt_node="MAPLE", script_suffix="_maple")
IVLP = MethodDefaults(base2new="vit_b16_c2_ep5_batch4_2+2ctx", base2new_imagenet=None, xd="vit_b16_c2_ep5_batch4_2+2ctx",
                      fewshot=_fixed("vit_b16_c2_ep5_batch4_2+2ctx"), fewshot_prompt=None, prompt_node="IVLP",
                      script_suffix="_ivlp")
# PromptSRC's few-shot GPA settings per dataset (its config says so; its script leaves the edit to you).
_GPA_45_5 = ("TRAINER.PROMPTSRC.GPA_MEAN", "45", "TRAINER.PROMPTSRC.GPA_STD", "5")
PROMPTSRC = MethodDefaults(base2new="vit_b16_c2_ep20_batch4_4+4ctx", base2new_imagenet=None,
                           xd="vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets",
                           fewshot=_fixed("vit_b16_c2_ep50_batch4_4+4ctx_few_shot"), fewshot_prompt=None,
                           prompt_node="PROMPTSRC",
                           fewshot_opts={d: _GPA_45_5 for d in ("stanford_cars", "oxford_flowers", "fgvc_aircraft", "dtd", "eurosat")})

# Linear-probe CLIP (CoOp's lpclip): few-shot only, one config for every shot count, no prompt.
LINEAR_PROBE = MethodDefaults(fewshot=_fixed("vit_b16"), fewshot_prompt=None, prompt_node="LINEAR_PROBE",
                              scripts="scripts/linear_probe", protocols=("fewshot",),
                              refusal="a linear probe has one weight vector per training class, so it cannot "
                                      "classify new classes or another dataset's")
# DePT (Koorye/DePT) runs each host with its own config (10 epochs) and the same for host+DePT;
# its runner loops over seeds 1 2 3 and reads the last epoch. <Host>_PLPP_DePT takes <Host>_DePT's row.
_DEPT = dict(protocols=("base2new", "xd"),
             refusal="DePT's head learns the base classes (or ImageNet's for cross-dataset): few-shot on all of a "
                     "dataset's classes has no head to train, and ImageNet-A/-R's class subsets are not mapped onto it")
_DEPT_COOP = "vit_b16_ep10_bs4_lr35"
COOP_DEPT = MethodDefaults(base2new=_DEPT_COOP, base2new_imagenet=None, xd=_DEPT_COOP, fewshot=_fixed(_DEPT_COOP),
                           fewshot_prompt=None, **_DEPT)
_DEPT_KGCOOP = "vit_b16_ep10_ctxv1_bs4_lr35"
KGCOOP_DEPT = replace(KGCOOP, base2new=_DEPT_KGCOOP, xd=_DEPT_KGCOOP, fewshot=_fixed(_DEPT_KGCOOP), fewshot_prompt=None,
                      params={"WEIGHT": "2.0"}, **_DEPT)
_DEPT_MAPLE = "vit_b16_c2_ep10_batch4_2ctx"
MAPLE_DEPT = replace(MAPLE, base2new=_DEPT_MAPLE, xd=_DEPT_MAPLE, fewshot=_fixed(_DEPT_MAPLE), **_DEPT)

METHODS: Dict[str, MethodDefaults] = {
    "CoOp": MethodDefaults(scripts="scripts/coop"),
    "PLPP": MethodDefaults(scripts="scripts/plpp"),
    "KgCoOp": KGCOOP,
    "KgCoOp_PLPP": KGCOOP,
    "CoCoOp": COCOOP,
    "CoCoOp_PLPP": COCOOP,
    "MaPLe": MAPLE,
    "MaPLe_PLPP": MAPLE,
    "IVLP": IVLP,
    "IVLP_PLPP": IVLP,
    "PromptSRC": PROMPTSRC,
    "PromptSRC_PLPP": PROMPTSRC,
    "LinearProbeCLIP": LINEAR_PROBE,
    "CoOp_DePT": COOP_DEPT,
    "CoOp_PLPP_DePT": COOP_DEPT,
    "CoCoOp_DePT": replace(COCOOP, **_DEPT),
    "KgCoOp_DePT": KGCOOP_DEPT,
    "MaPLe_DePT": MAPLE_DEPT,
    "IVLP_DePT": replace(IVLP, **_DEPT),
    "PromptSRC_DePT": replace(PROMPTSRC, **_DEPT),
}
ZERO_SHOT = ("ZeroshotCLIP", "ZeroshotCLIP2")  # zero-shot CLIP reads CoOp's backbone configs


def defaults(trainer: str) -> MethodDefaults:
    """The row of ``trainer``; CoOp's settings for a trainer without one."""
    return METHODS.get(trainer, MethodDefaults())


def scripts_dir(trainer: str) -> str:
    """Where the method's wrappers live: the row's, else ``scripts/<trainer in lower case>``."""
    return defaults(trainer).scripts or f"scripts/{trainer.lower()}"


def resolve_params(trainer: str, given: Mapping[str, str]) -> Dict[str, str]:
    """The method's script arguments: its defaults, overridden by ``given`` (unknown names are bad input)."""
    known = dict(defaults(trainer).params)
    unknown = sorted(set(given) - set(known))
    if unknown:
        choices = ", ".join(known) or "none"
        raise ValueError(f"{trainer} takes no parameter {', '.join(unknown)} (its parameters: {choices})")
    known.update(given)
    return known
