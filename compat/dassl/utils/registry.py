"""Name -> class registries (trainers, datasets, evaluators)."""
from typing import Any, Callable, Dict, List, Optional

from .tools import get_most_similar_str_to_a_from_b

__all__ = ["Registry"]


class Registry:
    """Maps a class's ``__name__`` to the class; ``@REGISTRY.register()`` adds one."""

    def __init__(self, name: str):
        self._name = name
        self._obj_map: Dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any, force: bool = False) -> None:
        if name in self._obj_map and not force:
            raise KeyError(
                f'An object named "{name}" was already registered in "{self._name}" registry'
            )
        self._obj_map[name] = obj

    def register(self, obj: Optional[Any] = None, force: bool = False) -> Optional[Callable]:
        if obj is None:

            def decorator(cls: Any) -> Any:
                self._do_register(cls.__name__, cls, force=force)
                return cls

            return decorator
        self._do_register(obj.__name__, obj, force=force)
        return None

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise KeyError(f'Object name "{name}" does not exist in "{self._name}" registry')
        return self._obj_map[name]

    def registered_names(self) -> List[str]:
        return list(self._obj_map.keys())

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def require(self, name: str, config_key: str) -> Any:
        """The class registered as ``name``, or a one-line ValueError for a config value.

        ``config_key`` names the setting the value came from, so the message says what to fix.
        """
        if name in self._obj_map:
            return self._obj_map[name]
        kind = self._name.lower()
        if not self._obj_map:
            raise ValueError(
                f'Unknown {kind} "{name}" ({config_key}): the {self._name} registry is empty; '
                f"import the module that registers it before building"
            )
        closest = get_most_similar_str_to_a_from_b(name, self._obj_map)
        raise ValueError(
            f'Unknown {kind} "{name}" ({config_key}); did you mean "{closest}"? '
            f"Registered in the {self._name} registry: {', '.join(self._obj_map)}"
        )
