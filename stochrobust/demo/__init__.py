"""``stochrobust demo``: the central result of [O23] on the disk toy problem, measured.

X is uniform on the unit disk and ``Y = X⁽¹⁾``. The demo evaluates the hand-crafted
consistent deterministic estimators ``X̂_α = (Y, sqrt(1 − Y²)·sin(αY))`` for
``α ∈ {1, 5, 20, 50}`` and the (stochastic) posterior sampler with this library's own
primitives:

- perceptual quality: improved precision/recall (k = 5, 1000 outputs against 1000 data
  points, averaged over several draws) — :func:`stochrobust.metrics.precision_recall`;
- robustness: the same-seed sensitivity ``r̃(y)`` of [O23] eq. 6 (squared; for a
  deterministic estimator it is the square of eq. 2) at ``ε = 1e-3``, with ``y + δ`` kept in
  ``[−1, 1]``, averaged over inputs (that mean is ``R̃``, eq. 7) —
  :func:`stochrobust.demo.demo_robustness` (an attack by
  :func:`stochrobust.sensitivity.sensitivity_at`, aggregated by
  :class:`stochrobust.sensitivity.RobustnessAggregator`).

It writes ``results.json`` and two PNG figures to the output folder and returns a report
whose table and conclusion the CLI prints. Expected ([O23] §4–5 and Fig. 3; docs: toy.md):
recall rises with α at precision ≈ 1 while the sensitivity grows by orders of magnitude; the
posterior sampler has both high recall and low sensitivity.

References:
    [O23] §4 (Fig. 3), §5 (eqs. 6–7), App. D.
"""

from stochrobust.demo.evaluate import DemoConfig, EstimatorResult, demo_robustness, evaluate
from stochrobust.demo.report import DEFAULT_OUT, DemoReport, conclusion, format_table, run_demo

__all__ = [
    "DEFAULT_OUT",
    "DemoConfig",
    "DemoReport",
    "EstimatorResult",
    "conclusion",
    "demo_robustness",
    "evaluate",
    "format_table",
    "run_demo",
]
