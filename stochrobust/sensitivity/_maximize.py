"""The one place where the [O24] tools call a solver (internal).

:func:`maximize` forwards to the public :meth:`~stochrobust.sensitivity.Solver.maximize`,
translating the glossary's ``ball`` into the keyword the solver contract takes, so that a
change of that keyword touches this file only.
"""

from __future__ import annotations

import torch

from stochrobust.sensitivity._ascent import Ascent, Objective
from stochrobust.sensitivity.solvers import Solver


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
