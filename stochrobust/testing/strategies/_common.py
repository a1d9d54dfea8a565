"""What the strategy families share: size and fraction ranges, dtypes, seeded generators.

Internal to :mod:`stochrobust.testing.strategies`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from hypothesis import strategies as st

from stochrobust._checks import check_int, check_number
from stochrobust.errors import RangeError, StochRobustTypeError

__all__ = ["IntRange", "dtypes_of", "fraction_range", "int_range", "seeded_generator"]

IntRange = int | tuple[int, int]
_SEEDS = st.integers(min_value=0, max_value=2**63 - 1)
_Number = TypeVar("_Number", int, float)


def _checked_range(
    value: object, name: str, check: Callable[[object], _Number]
) -> tuple[_Number, _Number]:
    """``(low, high)`` from a value or an inclusive pair, each end through ``check``."""
    if isinstance(value, tuple) and len(value) == 2:
        lo, hi = check(value[0]), check(value[1])
        if lo > hi:
            raise RangeError(f"{name}: expected a range (low, high) with low <= high, got {value}")
        return lo, hi
    v = check(value)
    return v, v


def int_range(value: object, name: str, minimum: int = 1) -> tuple[int, int]:
    """An integer size or an inclusive range ``(low, high)`` of them, each ``≥ minimum``."""
    if isinstance(value, tuple) and len(value) != 2:
        raise StochRobustTypeError(f"{name}: expected an integer or (low, high), got {value!r}")
    return _checked_range(value, name, lambda v: check_int(v, name, minimum=minimum))


def fraction_range(value: object, name: str) -> tuple[float, float]:
    """A fraction in ``[0, 1]`` or an inclusive range ``(low, high)`` of them."""
    return _checked_range(value, name, lambda v: check_number(v, name, low=0.0, high=1.0))


def dtypes_of(dtype: object) -> list[torch.dtype]:
    """A floating dtype or a sequence of them, as a list (``dtype``: the public argument)."""
    items: list[object] = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
    out = [d for d in items if isinstance(d, torch.dtype) and d.is_floating_point]
    if not items or len(out) != len(items):
        raise StochRobustTypeError(
            f"dtype: expected a floating torch.dtype or a sequence of them, got {dtype!r}"
        )
    return out


def seeded_generator(draw: st.DrawFn) -> torch.Generator:
    """A CPU generator seeded by a hypothesis draw (so examples replay and shrink)."""
    return torch.Generator().manual_seed(draw(_SEEDS))
