"""The data-set robustness figures of [O23] eqs. 3, 7 and 9: :class:`RobustnessReport`.

References:
    [O23] eqs. 3, 7 and 9; Table 3 (``sqrt(R̃)``); Table 1 / Fig. 4 (eq. 9 in dB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stochrobust._deprecate import warn_renamed

__all__ = ["RobustnessReport"]


@dataclass(repr=False)
class RobustnessReport:
    """The data-set robustness figures of [O23] eqs. 3, 7 and 9, with the per-sample tensors.

    Returned by :func:`~stochrobust.sensitivity.robustness` and by
    :meth:`~stochrobust.sensitivity.RobustnessAggregator.compute`.

    Attributes:
        r_tilde: ``R̃`` = the mean of the per-sample **squared** sensitivities ([O23] eq. 7;
            eq. 3 squared-then-averaged for deterministic models).
        r: the mean of the per-sample roots ``sqrt(r̃(y))`` — eq. 3 for deterministic models.
        sqrt_r_tilde: ``sqrt(R̃)``, the figure of [O23] Table 3 (``≥ r`` by Jensen).
        mean_output_psnr: the mean over samples of eq. 9 (dB; ``inf`` if some sample's
            outputs did not move).
        ci: the ``confidence`` interval for ``R̃`` (Student-t interval on the mean of the
            per-sample values: ``mean ± t_{(1+c)/2, n−1}·s/√n``; ``(-inf, inf)`` for one
            sample).
        confidence: the level of ``ci``.
        values: ``(N,)`` per-sample squared sensitivities (CPU).
        roots: ``(N,)`` their square roots (CPU).
        output_psnr: ``(N,)`` per-sample eq. 9 (CPU).
        input_psnr: ``(N,)`` per-sample AI-PSNR ``PSNR(y + δ, y)`` (CPU).
        eps: the radius (the largest one, when the results had per-sample radii).
        ball: the ball, ``"l2"``, ``"linf"`` or ``"l1"``.
        n_seeds: seeds per sample (1 for deterministic estimators).
        solver: ``repr`` of the solver.
        converged: ``(N,)`` bool, per sample, the convergence flag of
            :class:`~stochrobust.sensitivity.Diagnostics` (CPU).
        late_gain: ``(N,)`` the relative gain of the last quarter of each search (CPU).
        evaluations: objective evaluations spent per input (the largest over batches; 0
            when no search ran).
        total_evaluations: objective evaluations spent on all inputs together (each batch's
            per-input count times its size).

    Examples:
        >>> from stochrobust.sensitivity import robustness
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
    roots: torch.Tensor
    output_psnr: torch.Tensor
    input_psnr: torch.Tensor
    eps: float
    ball: str
    n_seeds: int
    solver: str
    converged: torch.Tensor
    late_gain: torch.Tensor
    evaluations: int
    total_evaluations: int = 0

    @property
    def norms(self) -> torch.Tensor:
        """Deprecated 0.1 name of :attr:`roots` (warns ``DeprecationWarning``)."""
        warn_renamed("RobustnessReport.norms", "RobustnessReport.roots")
        return self.roots

    @property
    def n_samples(self) -> int:
        """Number of samples evaluated (``len(values)``)."""
        return int(self.values.shape[0])

    @property
    def converged_fraction(self) -> float:
        """Fraction of the samples whose search converged (see :attr:`converged`)."""
        return float(self.converged.double().mean()) if self.n_samples else math.nan

    def __repr__(self) -> str:
        lo, hi = self.ci
        return (
            f"RobustnessReport(n={self.n_samples}, R~={self.r_tilde:.4g} "
            f"[{self.confidence:.0%} CI {lo:.4g}, {hi:.4g}], sqrt(R~)={self.sqrt_r_tilde:.4g}, "
            f"R={self.r:.4g}, eq9 PSNR={self.mean_output_psnr:.4g} dB, eps={self.eps:g}, "
            f"ball={self.ball!r}, n_seeds={self.n_seeds}, converged "
            f"{int(self.converged.sum())}/{self.n_samples}, {self.evaluations} evaluations/input)"
        )
