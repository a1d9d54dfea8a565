"""The one streaming aggregator of the data-set robustness figures ([O23] eqs. 3, 7, 9).

:class:`RobustnessAggregator` accumulates per-input results of
:func:`~stochrobust.sensitivity.sensitivity_at` batch by batch and reports what
:func:`~stochrobust.sensitivity.robustness` reports (a
:class:`~stochrobust.sensitivity.RobustnessReport`): ``R̃`` (eq. 7, the mean of the squared
eq. 6 values), ``R`` (the mean of their roots, eq. 3 for deterministic models),
``sqrt(R̃)`` ([O23] Table 3), the mean eq. 9 output PSNR, a Student-t interval for ``R̃``
and the per-input tensors. It is a :class:`~stochrobust.metrics.MetricState`: states merge
exactly (integer-valued float64 counts, float64 sums, Chan et al.'s ``(count, mean, M2)``
for the values, ``"cat"`` lists for the per-input tensors) and sync across a
``torch.distributed`` process group. ``robustness``, ``stochrobust audit``, the demo and the
testing assertions all aggregate through it.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023, eqs. 3, 6, 7, 9 and Table 3.
    Chan, Golub, LeVeque 1979 (pairwise merge of means and ``M2``).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.distributed as dist

from stochrobust._checks import (
    check_generator,
    check_int,
    check_positive,
    check_probability,
    describe,
)
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.estimator import Estimator
from stochrobust.metrics.streaming import MetricState, chan_merge
from stochrobust.sensitivity.projections import check_ball
from stochrobust.sensitivity.report import RobustnessReport
from stochrobust.sensitivity.sensitivity import SensitivityResult, sensitivity_at
from stochrobust.sensitivity.solvers import Solver

__all__ = ["RobustnessAggregator"]

_PER_INPUT = ("values", "output_psnrs", "input_psnrs", "converged", "late_gains")


class RobustnessAggregator(MetricState):
    """Streaming, mergeable aggregate of per-input eq. 6 / eq. 9 results over a data set.

    The attack specification is stated once, here; :meth:`update` then takes either a
    :class:`~stochrobust.sensitivity.SensitivityResult` computed elsewhere, or an estimator
    and a batch ``y``, which it attacks with :func:`~stochrobust.sensitivity.sensitivity_at`
    under that specification (:meth:`attack` does the same and returns the result). The
    ``generator`` is consumed batch after batch, so the same batches and the same generator
    state give the same aggregate.

    What it holds: ``count`` / ``mean`` / ``m2`` of the eq. 6 values (float64, merged with
    :func:`~stochrobust.metrics.chan_merge`), float64 sums of the roots and of the eq. 9
    PSNRs, the largest radius, the evaluations spent (the total and the largest per-input
    count of a batch, int64), and per input the values, eq. 9 PSNRs, AI-PSNRs and the
    :class:`~stochrobust.sensitivity.Diagnostics` flags ``converged`` and ``late_gain`` as
    ``"cat"`` lists (on the device they came from; :meth:`value` returns them on the CPU).
    The roots are ``sqrt(value)`` per input, as in ``SensitivityResult``. A result without
    diagnostics (``eps = 0``: no search ran) counts as converged with no evaluations.

    Args:
        eps: the radius used by ``update(estimator, y)`` (a number ``≥ 0``); ``None`` if
            only results are added.
        ball: ``"l2"`` (the paper's), ``"linf"`` or ``"l1"``.
        n_seeds: seeds per input for eq. 6 (stochastic estimators).
        solver: the attack; ``None`` is :func:`~stochrobust.sensitivity.default_solver`.
        generator: random generator of the attacks; ``None`` uses torch's global one.
        box: ``(lo, hi)`` constraint on ``y + δ``, or ``None``.
        data_range: peak-to-peak value range (inputs validated against ``[0, data_range]``,
            PSNRs); ``None`` skips the check and the PSNRs are NaN.
        warn: let each attack warn :class:`~stochrobust.ConvergenceWarning` for samples
            that did not converge (``robustness`` turns it off and warns once).
        confidence: level of the interval for ``R̃`` in the report, in ``(0, 1)``.
        group: process group of :meth:`~stochrobust.metrics.MetricState.compute`.
        sync_on_compute: sync over ``group`` in ``compute`` when distributed.

    Raises:
        RangeError: an unknown ``ball``, ``n_seeds < 1``, a negative ``eps``,
            ``data_range ≤ 0``, ``confidence`` outside ``(0, 1)``; at :meth:`update`, a
            result of another ball or seed count than earlier ones; at
            :meth:`value`, no input added yet.
        StochRobustTypeError: a wrong argument type.

    Shape:
        - ``y``: ``(B, *in_shape)``; report tensors ``(N,)`` for ``N`` inputs added.

    References:
        [O23] eqs. 3, 6, 7, 9 and Table 3 (``sqrt(R̃)``).

    Examples:
        >>> agg = RobustnessAggregator(0.1, generator=torch.Generator().manual_seed(0))
        >>> agg.update(lambda y: 3 * y, torch.rand(4, 2))
        >>> other = RobustnessAggregator(0.1, generator=torch.Generator().manual_seed(1))
        >>> other.update(lambda y: 3 * y, torch.rand(2, 2))
        >>> rep = agg.merge(other).compute()
        >>> rep.n_samples, round(rep.r, 4), round(rep.r_tilde, 4)  # eq. 3: 3 * eps
        (6, 0.3, 0.09)
    """

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor
    root_sum: torch.Tensor
    output_psnr_sum: torch.Tensor
    eps_max: torch.Tensor
    evaluations_total: torch.Tensor
    evaluations_max: torch.Tensor
    values: list[torch.Tensor]
    output_psnrs: list[torch.Tensor]
    input_psnrs: list[torch.Tensor]
    converged: list[torch.Tensor]
    late_gains: list[torch.Tensor]

    def __init__(
        self,
        eps: float | None = None,
        *,
        ball: str = "l2",
        n_seeds: int = 10,
        solver: Solver | None = None,
        generator: torch.Generator | None = None,
        box: tuple[float, float] | None = None,
        data_range: float | None = 1.0,
        warn: bool = True,
        confidence: float = 0.95,
        group: dist.ProcessGroup | None = None,
        sync_on_compute: bool = True,
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        if solver is not None and not isinstance(solver, Solver):
            raise StochRobustTypeError(
                f"solver: expected a stochrobust.sensitivity.Solver or None, got {describe(solver)}"
            )
        self.eps = None if eps is None else check_positive(eps, "eps", allow_zero=True)
        self.ball = check_ball(ball)
        self.n_seeds = check_int(n_seeds, "n_seeds", minimum=1)
        self.solver = solver
        self.generator = check_generator(generator)
        self.box = box
        self.data_range = None if data_range is None else check_positive(data_range, "data_range")
        self.warn = bool(warn)
        self.confidence = check_probability(confidence, "confidence")
        self._kind: tuple[str, int, str] | None = None  # (ball, n_seeds, solver) of results
        f64 = torch.float64
        for name in ("count", "mean", "m2"):
            self.add_state(name, torch.zeros((), dtype=f64), "custom")
        self.add_state("root_sum", torch.zeros((), dtype=f64), "sum")
        self.add_state("output_psnr_sum", torch.zeros((), dtype=f64), "sum")
        self.add_state("eps_max", torch.full((), -math.inf, dtype=f64), "max")
        self.add_state("evaluations_total", torch.zeros((), dtype=torch.int64), "sum")
        self.add_state("evaluations_max", torch.zeros((), dtype=torch.int64), "max")
        for name in _PER_INPUT:
            dtype = torch.bool if name == "converged" else torch.float32
            self.add_state(name, torch.zeros(0, dtype=dtype), "cat")

    # ------------------------------------------------------------------ accumulation
    def attack(self, estimator: Estimator | torch.nn.Module, y: torch.Tensor) -> SensitivityResult:
        """Attack the batch ``y`` with this aggregator's specification and add the result.

        Args:
            estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
            y: the inputs ``(B, *in_shape)``.

        Returns:
            The :class:`~stochrobust.sensitivity.SensitivityResult` that was added.

        Raises:
            RangeError: no ``eps`` was given at construction.
            ShapeError, NonFiniteError, ModelError, StochRobustTypeError: as
                :func:`~stochrobust.sensitivity.sensitivity_at`.

        Examples:
            >>> agg = RobustnessAggregator(0.5)
            >>> res = agg.attack(lambda y: 2 * y, torch.zeros(3, 2))
            >>> [round(v, 6) for v in res.value.tolist()], round(agg.compute().r_tilde, 6)
            ([1.0, 1.0, 1.0], 1.0)
        """
        if self.eps is None:
            raise RangeError(
                "eps: expected a radius given to RobustnessAggregator(eps, ...) to attack a "
                "batch, got None"
            )
        res = sensitivity_at(
            estimator, y, self.eps, ball=self.ball, n_seeds=self.n_seeds, solver=self.solver,
            generator=self.generator, box=self.box, data_range=self.data_range, warn=self.warn,
        )  # fmt: skip
        self.update(res)
        return res

    def update(
        self,
        result: SensitivityResult | Estimator | torch.nn.Module,
        y: torch.Tensor | None = None,
    ) -> None:
        """Add one batch: a result, or an estimator and inputs to attack (:meth:`attack`).

        Args:
            result: a :class:`~stochrobust.sensitivity.SensitivityResult`, or an estimator
                (an :class:`~stochrobust.Estimator` or a model ``G(y)``) when ``y`` is given.
            y: the inputs ``(B, *in_shape)`` to attack, or ``None`` to add ``result``.

        Raises:
            StochRobustTypeError: ``result`` is not a ``SensitivityResult`` and ``y`` is
                ``None``.
            RangeError: ``result`` has another ball or seed count than earlier results.

        Examples:
            >>> from stochrobust.sensitivity import sensitivity_at
            >>> agg = RobustnessAggregator()
            >>> agg.update(sensitivity_at(lambda y: y, torch.zeros(2, 3), 0.2))
            >>> agg.compute().n_samples, round(agg.compute().sqrt_r_tilde, 4)
            (2, 0.2)
        """
        if y is not None:
            self.attack(result, y)  # type: ignore[arg-type]
            return
        if not isinstance(result, SensitivityResult):
            raise StochRobustTypeError(
                "result: expected a SensitivityResult (or an estimator and y), got "
                f"{describe(result)}"
            )
        self._check_kind((result.ball, result.n_seeds, result.solver), "result")
        v = result.value.detach().to(torch.float64).reshape(-1)
        dev = v.device
        mean = v.mean() if v.numel() else v.new_zeros(())
        batch = (v.new_tensor(float(v.numel())), mean, (v - mean).square().sum())
        here = (self.count.to(dev), self.mean.to(dev), self.m2.to(dev))
        self.count, self.mean, self.m2 = chan_merge(here, batch)
        self.root_sum = self.root_sum.to(dev) + v.clamp_min(0).sqrt().sum()
        psnrs = result.output_psnr.detach()
        self.output_psnr_sum = self.output_psnr_sum.to(dev) + psnrs.to(torch.float64).sum()
        if result.eps.numel():
            top = result.eps.detach().to(device=dev, dtype=torch.float64).max()
            self.eps_max = torch.maximum(self.eps_max.to(dev), top)
        self.values.append(result.value.detach().reshape(-1))
        self.output_psnrs.append(psnrs.reshape(-1))
        self.input_psnrs.append(result.input_psnr.detach().reshape(-1))
        diag = result.diagnostics
        if diag is None:  # eps = 0 everywhere: no search ran
            self.converged.append(torch.ones(v.shape, dtype=torch.bool, device=dev))
            self.late_gains.append(torch.zeros(v.shape, device=dev))
            return
        self.converged.append(diag.converged.detach().reshape(-1))
        self.late_gains.append(diag.late_gain.detach().reshape(-1))
        spent = torch.tensor(diag.evaluations, dtype=torch.int64)
        self.evaluations_total = self.evaluations_total + spent * v.numel()
        self.evaluations_max = torch.maximum(self.evaluations_max, spent)

    def _check_kind(self, kind: tuple[str, int, str], name: str) -> None:
        """Every result of one aggregate has the same ball and number of seeds."""
        if self._kind is None:
            self._kind = kind
        elif kind[:2] != self._kind[:2]:
            raise RangeError(
                f"{name}: expected ball={self._kind[0]!r} and n_seeds={self._kind[1]} like the "
                f"results added before, got ball={kind[0]!r} and n_seeds={kind[1]}"
            )

    # ------------------------------------------------------------------ combination
    def merge(self, other: RobustnessAggregator) -> RobustnessAggregator:
        """Fold ``other``'s inputs into this aggregate (in place; ``other`` unchanged).

        Args:
            other: an aggregator of results of the same ball and number of seeds.

        Returns:
            ``self``, for chaining.

        Raises:
            StochRobustTypeError: ``other`` is not a ``RobustnessAggregator``.
            RangeError: ``other`` holds results of another ball or number of seeds.

        Examples:
            >>> a, b = RobustnessAggregator(0.1), RobustnessAggregator(0.1)
            >>> a.update(lambda y: y, torch.zeros(2, 3)); b.update(lambda y: y, torch.zeros(1, 3))
            >>> a.merge(b).compute().n_samples
            3
        """
        if isinstance(other, RobustnessAggregator) and other._kind is not None:
            self._check_kind(other._kind, "other")
        return super().merge(other)

    def merge_custom(self, other: RobustnessAggregator) -> None:
        """Chan-merge ``other``'s ``(count, mean, m2)`` of the values into this state."""
        dev = self.mean.device
        theirs = (other.count.to(dev), other.mean.to(dev), other.m2.to(dev))
        self.count, self.mean, self.m2 = chan_merge((self.count, self.mean, self.m2), theirs)

    def reset(self) -> None:
        """Forget every input added (the attack specification stays)."""
        super().reset()
        self._kind = None

    # ------------------------------------------------------------------ the report
    def compute(self) -> RobustnessReport:
        """The report over every rank of ``group`` (a collective when distributed).

        Returns:
            :meth:`value` of the synced state (of this state when not distributed).

        Raises:
            RangeError: no input was added on any rank.

        Examples:
            >>> agg = RobustnessAggregator(0.1)
            >>> agg.update(lambda y: 2 * y, torch.zeros(2, 3))
            >>> round(agg.compute().r, 4)
            0.2
        """
        return cast("RobustnessReport", super().compute())

    def value(self) -> RobustnessReport:
        """The report of the inputs added to this object (no communication).

        The ball, number of seeds and solver are those of the results (of the
        specification before any result was added, e.g. on an empty rank).

        Returns:
            A :class:`~stochrobust.sensitivity.RobustnessReport`; ``eps`` is the largest
            radius of the results (the specification's ``eps`` before any result has one).

        Raises:
            RangeError: no input was added.
        """
        n = int(self.count)
        if n == 0:
            raise RangeError("data: expected at least one input, got none")
        per = {k: v.cpu() for k, v in self.state_tensors().items() if k in _PER_INPUT}
        values = per["values"]
        r_tilde = float(self.mean)
        if n < 2:
            ci = (-math.inf, math.inf)
        else:
            from scipy.stats import t

            half = t.ppf(0.5 + self.confidence / 2, n - 1) * math.sqrt(float(self.m2) / (n - 1))
            ci = (r_tilde - float(half) / math.sqrt(n), r_tilde + float(half) / math.sqrt(n))
        eps_max = float(self.eps_max)
        ball, n_seeds, solver = self._kind or (self.ball, self.n_seeds, repr(self.solver))
        return RobustnessReport(
            r_tilde=r_tilde,
            r=float(self.root_sum) / n,
            sqrt_r_tilde=math.sqrt(max(r_tilde, 0.0)),
            mean_output_psnr=float(self.output_psnr_sum) / n,
            ci=ci,
            confidence=self.confidence,
            values=values,
            roots=values.clamp_min(0).sqrt(),
            output_psnr=per["output_psnrs"],
            input_psnr=per["input_psnrs"],
            eps=eps_max if math.isfinite(eps_max) else float(self.eps or 0.0),
            ball=ball,
            n_seeds=n_seeds,
            solver=solver,
            converged=per["converged"],
            late_gain=per["late_gains"],
            evaluations=int(self.evaluations_max),
            total_evaluations=int(self.evaluations_total),
        )
