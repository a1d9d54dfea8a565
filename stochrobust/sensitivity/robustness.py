"""Robustness of an estimator over a data set: ``R̃ = E_Y[r̃(Y)]`` ([O23] eq. 7) and friends.

References:
    [O23] eqs. 3, 7 and 9; Table 3 (``sqrt(R̃)``); Table 1 / Fig. 4 (eq. 9 in dB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from stochrobust._checks import (
    ShapeError,
    check_int,
    check_model_input,
    check_positive,
    check_probability,
)
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.sensitivity._batches import iter_batches
from stochrobust.sensitivity.sensitivity import sensitivity_at
from stochrobust.sensitivity.solvers import Solver

__all__ = ["RobustnessReport", "robustness"]


@dataclass(repr=False)
class RobustnessReport:
    """Result of :func:`robustness`.

    Attributes:
        r_tilde: ``R̃`` = the mean of the per-sample **squared** sensitivities ([O23] eq. 7;
            eq. 3 squared-then-averaged for deterministic models).
        r: the mean of the per-sample norms ``sqrt(r̃(y))`` — eq. 3 for deterministic models.
        sqrt_r_tilde: ``sqrt(R̃)``, the figure of [O23] Table 3 (``≥ r`` by Jensen).
        mean_output_psnr: the mean over samples of eq. 9 (dB; ``inf`` if some sample's
            outputs did not move).
        ci: the ``confidence`` interval for ``R̃`` (Student-t interval on the mean of the
            per-sample values: ``mean ± t_{(1+c)/2, n−1}·s/√n``; ``(-inf, inf)`` for one
            sample).
        confidence: the level of ``ci``.
        values: ``(N,)`` per-sample squared sensitivities (CPU).
        norms: ``(N,)`` their square roots (CPU).
        output_psnr: ``(N,)`` per-sample eq. 9 (CPU).
        input_psnr: ``(N,)`` per-sample AI-PSNR ``PSNR(y + δ, y)`` (CPU).
        eps: the radius.
        ball: the ball's norm.
        n_seeds: seeds per sample (1 for deterministic estimators).
        solver: ``repr`` of the solver.

    Examples:
        >>> rep = robustness(lambda y: 3 * y, torch.rand(4, 2), 0.1, progress=False)
        >>> round(rep.r, 4), round(rep.r_tilde, 4), rep.n_samples
        (0.3, 0.09, 4)
    """

    r_tilde: float
    r: float
    sqrt_r_tilde: float
    mean_output_psnr: float
    ci: tuple[float, float]
    confidence: float
    values: torch.Tensor
    norms: torch.Tensor
    output_psnr: torch.Tensor
    input_psnr: torch.Tensor
    eps: float
    ball: str
    n_seeds: int
    solver: str

    @property
    def n_samples(self) -> int:
        """Number of samples evaluated (``len(values)``)."""
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        lo, hi = self.ci
        return (
            f"RobustnessReport(n={self.n_samples}, R~={self.r_tilde:.4g} "
            f"[{self.confidence:.0%} CI {lo:.4g}, {hi:.4g}], sqrt(R~)={self.sqrt_r_tilde:.4g}, "
            f"R={self.r:.4g}, eq9 PSNR={self.mean_output_psnr:.4g} dB, eps={self.eps:g}, "
            f"ball={self.ball!r}, n_seeds={self.n_seeds})"
        )


def robustness(
    estimator: Estimator | torch.nn.Module,
    data: torch.Tensor | Iterable[object],
    eps: float,
    *,
    norm: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    confidence: float = 0.95,
    device: torch.device | str | None = None,
    data_range: float | None = 1.0,
) -> RobustnessReport:
    """Robustness ``R̃ = E_Y[r̃(Y)]`` ([O23] eq. 7) over a data set, with eq. 3 and eq. 9.

    Runs :func:`~stochrobust.sensitivity.sensitivity_at` batch by batch and aggregates.
    ``data`` is a tensor ``(N, ...)`` (cut into batches of ``batch_size``), or any iterable of
    batches — e.g. a ``torch.utils.data.DataLoader`` — whose items are tensors or
    ``(y, ...)`` tuples/lists, of which the first element is the input (labels, targets and
    the like are ignored). The generator is consumed batch after batch, so the same batches
    and the same generator state give the same report, whatever container holds them.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        data: the inputs ``y`` (see above).
        eps: the radius (a number ``≥ 0``).
        norm: the ball.
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
    level = check_probability(confidence, "confidence")
    batches, total = iter_batches(data, bs)

    from tqdm.auto import tqdm

    values: list[torch.Tensor] = []
    out_psnr: list[torch.Tensor] = []
    in_psnr: list[torch.Tensor] = []
    ball, seeds_used, solver_repr = str(norm), n_seeds, repr(solver)
    bar = tqdm(batches, total=total, disable=not progress, desc="robustness", unit="batch")
    est = as_estimator(estimator)
    try:
        with est.guarded("robustness", freeze=True, eval_mode=True, arg="estimator"):
            for y in bar:
                yb = y if device is None else y.to(device)
                check_model_input(yb, "data", data_range if box is None else None)
                res = sensitivity_at(
                    est, yb, eps_f, norm=norm, n_seeds=n_seeds, solver=solver,
                    generator=generator, box=box, data_range=data_range,
                )  # fmt: skip
                values.append(res.value.detach().cpu())
                out_psnr.append(res.output_psnr.detach().cpu())
                in_psnr.append(res.input_psnr.detach().cpu())
                ball, seeds_used, solver_repr = res.ball, res.n_seeds, res.solver
    finally:
        bar.close()
    if not values:
        raise ShapeError("data: expected at least one batch, got an empty iterable")
    v = torch.cat(values)
    norms = v.clamp_min(0).sqrt()
    return RobustnessReport(
        r_tilde=float(v.mean()),
        r=float(norms.mean()),
        sqrt_r_tilde=math.sqrt(max(float(v.mean()), 0.0)),
        mean_output_psnr=float(torch.cat(out_psnr).mean()),
        ci=_t_interval(v, level),
        confidence=level,
        values=v,
        norms=norms,
        output_psnr=torch.cat(out_psnr),
        input_psnr=torch.cat(in_psnr),
        eps=eps_f,
        ball=ball,
        n_seeds=seeds_used,
        solver=solver_repr,
    )


def _t_interval(v: torch.Tensor, level: float) -> tuple[float, float]:
    """Student-t confidence interval for the mean of ``v`` (float64)."""
    n = v.shape[0]
    if n < 2:
        return (-math.inf, math.inf)
    from scipy.stats import t

    x = v.double()
    mean = float(x.mean())
    half = float(t.ppf(0.5 + level / 2, n - 1)) * float(x.std()) / math.sqrt(n)
    return (mean - half, mean + half)
