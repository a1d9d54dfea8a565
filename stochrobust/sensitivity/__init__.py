"""Worst-case sensitivity and robustness of restoration estimators ([O23] eqs. 2–9).

- Solvers: the solver contract :class:`Solver` and its :class:`Problem`; the default
  budgeted :class:`Protocol` (:mod:`~stochrobust.sensitivity.protocol`), :class:`APGD`
  (:mod:`~stochrobust.sensitivity.apgd`), :class:`PGD`, :class:`FGSM`, :class:`BIM`
  (:mod:`~stochrobust.sensitivity.pgd`), :class:`AdamAscent` (the paper's attack) and
  :class:`CW` (:mod:`~stochrobust.sensitivity.adaptive`); convergence
  :class:`Diagnostics` on every result (:mod:`~stochrobust.sensitivity.diagnostics`).
- Measurements (:mod:`~stochrobust.sensitivity.sensitivity`): :func:`sensitivity_at`
  (eq. 6, eq. 2 squared, eq. 9), :func:`w2_sensitivity_at` (eq. 4), :func:`local_lipschitz`.
- Data sets (:mod:`~stochrobust.sensitivity.robustness`): :func:`robustness` (eqs. 3, 7, 9),
  streamed and merged by :class:`RobustnessAggregator`.
- Perception–robustness tradeoff [O24]: :func:`lipschitz_lower_bound`, :func:`explore`.
- Training (:mod:`~stochrobust.sensitivity.regularizer`): :class:`RobustnessRegularizer`.
- Budgets (:mod:`~stochrobust.sensitivity.budget`): :func:`eps_for_psnr`,
  :func:`psnr_for_eps`.
- Projections onto balls: :mod:`stochrobust.sensitivity.projections`.
"""

from typing import Any

from stochrobust.sensitivity._ascent import Problem
from stochrobust.sensitivity.adaptive import CW, AdamAscent
from stochrobust.sensitivity.aggregate import RobustnessAggregator
from stochrobust.sensitivity.apgd import APGD
from stochrobust.sensitivity.budget import eps_for_psnr, psnr_for_eps
from stochrobust.sensitivity.diagnostics import Diagnostics
from stochrobust.sensitivity.explore import Exploration, explore
from stochrobust.sensitivity.lipschitz import LipschitzBound, lipschitz_lower_bound, tradeoff_bound
from stochrobust.sensitivity.pgd import BIM, FGSM, PGD
from stochrobust.sensitivity.projections import (
    BALLS,
    clip_box,
    project,
    project_ball,
    project_l1,
    project_l2,
    project_linf,
)
from stochrobust.sensitivity.protocol import (
    LEVELS,
    SOLVER_NAMES,
    Plan,
    Protocol,
    default_solver,
    make_solver,
)
from stochrobust.sensitivity.regularizer import RobustnessRegularizer
from stochrobust.sensitivity.report import RobustnessReport
from stochrobust.sensitivity.robustness import robustness
from stochrobust.sensitivity.sensitivity import (
    SensitivityResult,
    W2SensitivityResult,
    local_lipschitz,
    sensitivity_at,
    w2_sensitivity_at,
)
from stochrobust.sensitivity.solvers import Ascent, RestartSolver, Solver

__all__ = [
    "APGD",
    "BALLS",
    "BIM",
    "CW",
    "FGSM",
    "LEVELS",
    "PGD",
    "SOLVER_NAMES",
    "AdamAscent",
    "Ascent",
    "Diagnostics",
    "Exploration",
    "LipschitzBound",
    "Plan",
    "Problem",
    "Protocol",
    "RestartSolver",
    "RobustnessAggregator",
    "RobustnessRegularizer",
    "RobustnessReport",
    "SensitivityResult",
    "Solver",
    "W2SensitivityResult",
    "clip_box",
    "default_solver",
    "eps_for_psnr",
    "explore",
    "lipschitz_lower_bound",
    "local_lipschitz",
    "make_solver",
    "project",
    "project_ball",
    "project_l1",
    "project_l2",
    "project_linf",
    "psnr_for_eps",
    "robustness",
    "sensitivity_at",
    "tradeoff_bound",
    "w2_sensitivity_at",
]


def __getattr__(name: str) -> Any:
    if name == "NORMS":  # 0.1 spelling
        from stochrobust.sensitivity import projections

        return projections.NORMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
