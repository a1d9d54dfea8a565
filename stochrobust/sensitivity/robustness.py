"""Robustness of an estimator over a data set: ``R̃ = E_Y[r̃(Y)]`` ([O23] eq. 7) and friends.

References:
    [O23] eqs. 3, 7 and 9; Table 3 (``sqrt(R̃)``); Table 1 / Fig. 4 (eq. 9 in dB).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from stochrobust._checks import check_int, check_model_input, check_positive
from stochrobust._deprecate import _UNSET, renamed_argument
from stochrobust.errors import ShapeError
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.sensitivity._batches import iter_batches
from stochrobust.sensitivity.aggregate import RobustnessAggregator
from stochrobust.sensitivity.report import RobustnessReport
from stochrobust.sensitivity.solvers import Solver

__all__ = ["robustness"]


def robustness(
    estimator: Estimator | torch.nn.Module,
    data: torch.Tensor | Iterable[object],
    eps: float,
    *,
    ball: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    confidence: float = 0.95,
    device: torch.device | str | None = None,
    data_range: float | None = 1.0,
    norm: Any = _UNSET,
) -> RobustnessReport:
    """Robustness ``R̃ = E_Y[r̃(Y)]`` ([O23] eq. 7) over a data set, with eq. 3 and eq. 9.

    Runs :func:`~stochrobust.sensitivity.sensitivity_at` batch by batch and aggregates
    with :class:`~stochrobust.sensitivity.RobustnessAggregator` (the aggregate of
    ``stochrobust audit``, the demo and the testing assertions too; use it directly to
    stream, merge shards or sync across processes).
    ``data`` is a tensor ``(N, ...)`` (cut into batches of ``batch_size``), or any iterable of
    batches — e.g. a ``torch.utils.data.DataLoader`` — whose items are tensors or
    ``(y, ...)`` tuples/lists, of which the first element is the input (labels, targets and
    the like are ignored). The generator is consumed batch after batch, so the same batches
    and the same generator state give the same report, whatever container holds them.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        data: the inputs ``y`` (see above).
        eps: the radius (a number ``≥ 0``).
        ball: the ball.
        n_seeds: seeds per input (stochastic estimators).
        solver: the maximiser (default: :func:`~stochrobust.sensitivity.default_solver`).
        generator: random generator.
        box: ``(lo, hi)`` on ``y + δ`` or ``None``.
        batch_size: batch size when ``data`` is a tensor.
        progress: show a tqdm progress bar (on stderr).
        confidence: level of the confidence interval for ``R̃``, in ``(0, 1)``.
        device: move every batch to this device first (``None``: leave it where it is).
        data_range: range of the inputs: every batch is validated against
            ``[0, data_range]`` and the PSNRs use it; ``None`` skips the check and the PSNR
            fields are NaN (see :func:`~stochrobust.sensitivity.sensitivity_at`).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        A :class:`RobustnessReport`.

    Raises:
        StochRobustTypeError: ``data`` is not a tensor/iterable, or a batch is not a tensor
            or a tuple starting with one.
        ShapeError: ``data`` is empty.
        RangeError, NonFiniteError, ModelError: as
            :func:`~stochrobust.sensitivity.sensitivity_at`.

    Shape:
        - ``data``: ``(N, *in_shape)`` or batches ``(B_i, *in_shape)``; per-sample fields
          ``(N,)``.

    References:
        [O23] eqs. 3, 7, 9 and Table 3.

    Examples:
        >>> A = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> rep = robustness(lambda y: y @ A.T, torch.rand(10, 2), 0.5, batch_size=4,
        ...                  progress=False, generator=torch.Generator().manual_seed(0))
        >>> round(rep.r, 3), round(rep.r_tilde, 3)  # eps * sigma_max = 1, squared = 1
        (1.0, 1.0)
    """
    eps_f = check_positive(eps, "eps", allow_zero=True)
    bs = check_int(batch_size, "batch_size", minimum=1)
    batches, total = iter_batches(data, bs)
    agg = RobustnessAggregator(
        eps_f, ball=renamed_argument("norm", norm, "ball", ball, "l2"), n_seeds=n_seeds,
        solver=solver, generator=generator, box=box, data_range=data_range,
        confidence=confidence, warn=False,
    )  # fmt: skip

    from tqdm.auto import tqdm

    bar = tqdm(batches, total=total, disable=not progress, desc="robustness", unit="batch")
    est = as_estimator(estimator)
    try:
        with est.guarded("robustness", freeze=True, eval_mode=True, arg="estimator"):
            for y in bar:
                yb = y if device is None else y.to(device)
                check_model_input(yb, "data", data_range if box is None else None)
                agg.update(est, yb)
    finally:
        bar.close()
    if int(agg.count) == 0:
        raise ShapeError("data: expected at least one batch, got an empty iterable")
    report = agg.value()  # this process's data (no collective)
    if not bool(report.converged.all()):
        import warnings

        from stochrobust.errors import ConvergenceWarning

        warnings.warn(
            f"robustness: {int((~report.converged).sum())} of {report.n_samples} samples have "
            f"not converged (the last quarter of their search still gained up to "
            f"{100 * float(report.late_gain.max()):.3g} %, or their best two starts disagree): "
            "R~ may be low; raise the budget, e.g. solver=Protocol('thorough')",
            ConvergenceWarning,
            stacklevel=2,
        )
    return report
