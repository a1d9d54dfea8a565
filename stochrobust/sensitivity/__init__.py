"""Worst-case sensitivity and robustness of restoration estimators ([O23] eqs. 2–9).

- Solvers (:mod:`~stochrobust.sensitivity.solvers`, :mod:`~stochrobust.sensitivity.adaptive`):
  objective-agnostic maximisers over a norm ball — :class:`PGD`, :class:`FGSM`, :class:`BIM`,
  :class:`AdamAscent` (the paper's attack), :class:`CW`.
- Measurements (:mod:`~stochrobust.sensitivity.sensitivity`): :func:`sensitivity_at`
  (eq. 6, eq. 2 squared, eq. 9), :func:`w2_sensitivity_at` (eq. 4), :func:`local_lipschitz`.
- Data sets (:mod:`~stochrobust.sensitivity.robustness`): :func:`robustness` (eqs. 3, 7, 9),
  streamed and merged by :class:`RobustnessAggregator`.
- Perception–robustness tradeoff [O24]: :func:`lipschitz_lower_bound`, :func:`explore`.
- Training (:mod:`~stochrobust.sensitivity.regularizer`): :class:`RobustnessRegularizer`.
- Budgets (:mod:`~stochrobust.sensitivity.budget`): :func:`eps_for_psnr`,
  :func:`psnr_for_eps`.
- Projections onto norm balls: :mod:`stochrobust.sensitivity.projections`.
"""

from stochrobust.sensitivity.adaptive import CW, AdamAscent
from stochrobust.sensitivity.aggregate import RobustnessAggregator
from stochrobust.sensitivity.budget import eps_for_psnr, psnr_for_eps
from stochrobust.sensitivity.explore import Exploration, explore
from stochrobust.sensitivity.lipschitz import LipschitzBound, lipschitz_lower_bound, tradeoff_bound
from stochrobust.sensitivity.projections import (
    NORMS,
    clip_box,
    project,
    project_l1,
    project_l2,
    project_linf,
)
from stochrobust.sensitivity.regularizer import RobustnessRegularizer
from stochrobust.sensitivity.robustness import RobustnessReport, robustness
from stochrobust.sensitivity.sensitivity import (
    SensitivityResult,
    W2SensitivityResult,
    local_lipschitz,
    sensitivity_at,
    w2_sensitivity_at,
)
from stochrobust.sensitivity.solvers import (
    BIM,
    FGSM,
    PGD,
    Ascent,
    Solver,
    default_solver,
)

__all__ = [
    "BIM",
    "CW",
    "FGSM",
    "NORMS",
    "PGD",
    "AdamAscent",
    "Ascent",
    "Exploration",
    "LipschitzBound",
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
    "project",
    "project_l1",
    "project_l2",
    "project_linf",
    "psnr_for_eps",
    "robustness",
    "sensitivity_at",
    "tradeoff_bound",
    "w2_sensitivity_at",
]
