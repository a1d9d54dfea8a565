"""Test helpers for users' CI: assertions, a pytest plugin and hypothesis strategies.

- Assertions (raise ``AssertionError`` with a readable report, deterministic by default):
  :func:`assert_sensitivity_below` ([O23] eq. 6 / eq. 2), :func:`assert_output_psnr_above`
  (eq. 9), :func:`assert_consistent` (45 dB consistency), :func:`assert_certified`
  (median-smoothing certificates).
- Operators: :func:`check_linear_operator` (adjointness, pseudo-inverse, projection) for
  the operators of :mod:`stochrobust.consistency` and your own.
- Session settings: :func:`scaled_solver`, :func:`current_budget`, :func:`current_seed`
  (set by the pytest plugin's ``--stochrobust-budget`` / ``--stochrobust-seed``).
- The pytest plugin :mod:`stochrobust.testing.plugin` (entry point ``stochrobust``):
  fixtures ``sr_generator``, ``sr_seed``, ``sr_budget``.
- Hypothesis strategies: :mod:`stochrobust.testing.strategies` (needs ``hypothesis``,
  the ``test`` extra; imported on first use).

The names are imported lazily, so that the pytest plugin, which imports this package in
every pytest session, stays cheap.

References:
    [O23] eqs. 2, 6, 9 and §2.2; [C24] §4.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust.testing import strategies  # noqa: F401
    from stochrobust.testing.assertions import (
        assert_output_psnr_above,
        assert_sensitivity_below,
        default_generator,
    )
    from stochrobust.testing.certification import assert_certified
    from stochrobust.testing.consistency import assert_consistent
    from stochrobust.testing.operators import check_linear_operator
    from stochrobust.testing.session import (
        current_budget,
        current_seed,
        current_solver,
        scaled_solver,
        set_budget,
        set_seed,
        set_solver,
    )

_EXPORTS = {
    "assert_sensitivity_below": "assertions",
    "assert_output_psnr_above": "assertions",
    "default_generator": "assertions",
    "assert_consistent": "consistency",
    "assert_certified": "certification",
    "check_linear_operator": "operators",
    "current_budget": "session",
    "current_seed": "session",
    "current_solver": "session",
    "scaled_solver": "session",
    "set_budget": "session",
    "set_seed": "session",
    "set_solver": "session",
}

__all__ = [
    "assert_certified",
    "assert_consistent",
    "assert_output_psnr_above",
    "assert_sensitivity_below",
    "check_linear_operator",
    "current_budget",
    "current_seed",
    "current_solver",
    "default_generator",
    "scaled_solver",
    "set_budget",
    "set_seed",
    "set_solver",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"stochrobust.testing.{_EXPORTS[name]}"), name)
    if name == "strategies":
        return importlib.import_module("stochrobust.testing.strategies")
    raise AttributeError(f"module 'stochrobust.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "strategies"])
