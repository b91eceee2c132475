"""Which cases of a per-method test the fast loop (``-m "not slow"``) runs: the listed
representatives; the other cases are marked slow and run in the full suite (CI)."""
from typing import Iterable, List

import pytest

ParameterSet = type(pytest.param(None))


def fast_cases(values: Iterable, fast: Iterable) -> List:
    """``values`` as pytest params, each marked slow unless its first argument is in ``fast``
    (a tuple value is one case's arguments; a pytest.param keeps its own marks and id)."""
    fast = set(fast)
    cases = []
    for value in values:
        if not isinstance(value, ParameterSet):
            value = pytest.param(*(value if isinstance(value, tuple) else (value,)))
        marks = [*value.marks, *([] if value.values[0] in fast else [pytest.mark.slow])]
        cases.append(pytest.param(*value.values, marks=marks, id=value.id))
    return cases
