"""The one place where the [O24] tools call a solver (internal).

:func:`maximize` forwards to the public :meth:`~stochrobust.sensitivity.Solver.maximize`,
translating the glossary's ``ball`` into the keyword the solver contract takes, so that a
change of that keyword touches this file only.
"""

from __future__ import annotations

import torch

from stochrobust._checks import RangeError
from stochrobust.sensitivity._ascent import Ascent, Objective
from stochrobust.sensitivity.projections import NORMS
from stochrobust.sensitivity.solvers import Solver


def check_ball(ball: object) -> str:
    """``ball`` if it names a supported ball, else a :class:`RangeError` naming ``ball``."""
    if not isinstance(ball, str) or ball not in NORMS:
        raise RangeError(f"ball: expected one of {NORMS}, got {ball!r}")
    return ball


def maximize(
    solver: Solver,
    objective: Objective,
    y: torch.Tensor,
    eps: torch.Tensor,
    *,
    ball: str,
    box: tuple[float, float] | None,
    generator: torch.Generator | None,
) -> Ascent:
    """``solver.maximize(objective, y, eps, <ball keyword>=ball, box=box, generator=...)``."""
    return solver.maximize(objective, y, eps, norm=ball, box=box, generator=generator)
