"""Plug-ins x hosts: the trainers ``<Host>_<Plugin>`` and ``<Host>_<Plugin1>_<Plugin2>``, made
here rather than written per host.

A plug-in is one mixin module that adds to any host trainer's loss or prediction and says what
it needs from the host (``needs``). A host says what it offers: ``plugin_offers``, needs it meets
itself, and ``plugin_hooks()``, needs met by a small host-specific mixin (PLPP's "context": which
context vectors are scored and which states predict them). Every host gets every plug-in, and
every combination of plug-ins, whose needs it offers, registered in ``TRAINER_REGISTRY``;
``plugin_trainer`` refuses any other combination in one line. CoOp with PLPP keeps the paper's
name, ``PLPP`` (registered by trainers/plpp.py, which drops alone into the reference CoOp).

Plug-ins compose as mixins in the order of ``PLUGINS`` (the outermost first), each preceded by
the host's hooks for its needs: PLPP before DePT, so that DePT reads the host's own pass only and
PLPP's extra text passes (a context read on its own) happen outside it.
"""
import itertools
from typing import Dict, List, Sequence, Tuple

from dassl.engine import TRAINER_REGISTRY

from .cocoop import CoCoOp
from .coop import CoOp
from .dept import DecoupledPromptTuning
from .ivlp import IVLP
from .kgcoop import KgCoOp
from .maple import MaPLe
from .plpp import PLPP, PerplexityRegularized
from .promptsrc import PromptSRC

# Each plug-in by name, in composition order (outermost first).
PLUGINS: Dict[str, type] = {"PLPP": PerplexityRegularized, "DePT": DecoupledPromptTuning}
HOSTS: Tuple[type, ...] = (CoOp, CoCoOp, KgCoOp, MaPLe, IVLP, PromptSRC)
PAPER_NAMES = {("CoOp", ("PLPP",)): PLPP.__name__}  # host and plug-ins -> the name the paper gave it


def trainer_name(host: type, plugins: Sequence[str]) -> str:
    return PAPER_NAMES.get((host.__name__, tuple(plugins))) or "_".join([host.__name__, *plugins])


def host_hooks(host: type) -> Dict[str, type]:
    hooks = getattr(host, "plugin_hooks", None)
    return dict(hooks()) if hooks else {}


def missing_needs(host: type, plugins: Sequence[str]) -> List[str]:
    """What the plug-ins need that the host does not offer."""
    offered = set(getattr(host, "plugin_offers", ())) | set(host_hooks(host))
    return sorted({need for name in plugins for need in PLUGINS[name].needs} - offered)


def plugin_trainer(host: type, plugins: Sequence[str]) -> type:
    """The trainer class of ``host`` with ``plugins`` (names in ``PLUGINS``), or one line saying
    why the pair cannot work."""
    unknown = [name for name in plugins if name not in PLUGINS]
    if unknown:
        raise ValueError(f"Unknown plug-in {', '.join(unknown)}; the plug-ins are {', '.join(PLUGINS)}")
    missing = missing_needs(host, plugins)
    if missing:
        raise ValueError(f"{trainer_name(host, plugins)} cannot work: {host.__name__} does not offer {', '.join(missing)}, "
                         f"which {' and '.join(plugins)} needs")
    ordered = [name for name in PLUGINS if name in plugins]
    hooks = host_hooks(host)
    bases: List[type] = []
    for name in ordered:
        bases += [hooks[need] for need in PLUGINS[name].needs if need in hooks and hooks[need] not in bases]
        bases.append(PLUGINS[name])
    doc = f"{host.__name__} with the plug-in{'s' if len(ordered) > 1 else ''} {' and '.join(ordered)} (trainers/plugins.py)."
    return type(trainer_name(host, ordered), (*bases, host), {"__doc__": doc, "__module__": __name__})


def registered_pairs() -> Dict[str, Tuple[type, Tuple[str, ...]]]:
    """{trainer name: (host, plug-in names)} for every host and combination that can work."""
    pairs = {}
    for host in HOSTS:
        for count in range(1, len(PLUGINS) + 1):
            for plugins in itertools.combinations(PLUGINS, count):
                if not missing_needs(host, plugins):
                    pairs[trainer_name(host, plugins)] = (host, plugins)
    return pairs


def register_all() -> List[str]:
    """Register every workable host x plug-in trainer (``PLPP`` is trainers/plpp.py's own);
    returns their names."""
    names = []
    for name, (host, plugins) in registered_pairs().items():
        if name not in TRAINER_REGISTRY.registered_names():
            TRAINER_REGISTRY.register(plugin_trainer(host, plugins))
        names.append(name)
    return names


PLUGIN_TRAINERS: List[str] = register_all()
