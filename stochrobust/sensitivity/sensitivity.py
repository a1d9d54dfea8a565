"""Worst-case sensitivity of a (stochastic) restoration estimator at given inputs.

- :func:`sensitivity_at` — the same-seed sensitivity ``r̃(y)`` ([O23] eq. 6), which is the
  *squared* deterministic sensitivity (eq. 2) for deterministic models, with the eq. 9 PSNR
  robustness and the adversarial-input PSNR at the maximiser.
- :func:`w2_sensitivity_at` — an estimate of the Wasserstein sensitivity (eq. 4) between
  the seed clouds at ``y`` and ``y + δ``, reported next to eq. 6 at the same ``δ``.
- :func:`local_lipschitz` — the [O24] lower bound ``‖G(y + δ) − G(y)‖ / ‖δ‖``.

Every function validates its inputs once, evaluates all seeds in one fused model call per
step (:meth:`~stochrobust.Estimator.forward_seeds`), computes the clean outputs once without
gradient, and runs under the model-state guard (:func:`~stochrobust.frozen`), entered once
per call: every module the model can reach is in eval mode
(BatchNorm uses and does not update its running statistics, dropout is off) with frozen
parameters, and the caller's mode and ``requires_grad`` flags are restored afterwards, also
on exceptions. Gradients are taken with respect to the perturbation only; ``.grad`` is never
written.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023, §4–6, App. D, App. E.2.3.
    [O24] Ohayon, Michaeli, Elad. The Perception-Robustness Tradeoff in Deterministic Image
    Restoration. ICML 2024 (Lipschitz lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from stochrobust._deprecate import _UNSET, renamed_argument, warn_renamed
from stochrobust.estimator import Estimator
from stochrobust.metrics.quality import psnr
from stochrobust.sensitivity._ascent import Ascent, Objective
from stochrobust.sensitivity._objective import (
    Prepared,
    SameSeedObjective,
    W2Objective,
    check_output,
    prepare,
)
from stochrobust.sensitivity.diagnostics import Diagnostics, warn_unconverged
from stochrobust.sensitivity.solvers import Solver

__all__ = [
    "SensitivityResult",
    "W2SensitivityResult",
    "local_lipschitz",
    "sensitivity_at",
    "w2_sensitivity_at",
]


def _search(p: Prepared, objective: Objective, generator: torch.Generator | None) -> Ascent:
    """Run the prepared solver through the public contract (arguments validated once)."""
    return p.solver.maximize(
        objective, p.y, p.eps, ball=p.ball, box=p.box, generator=generator, validate_args=False
    )


def _summary(t: torch.Tensor) -> str:
    return f"mean {float(t.float().mean()):.4g}" if t.numel() else "empty"


@dataclass(repr=False)
class SensitivityResult:
    """Per-sample result of :func:`sensitivity_at`.

    Attributes:
        value: ``(B,)`` the **squared** same-seed sensitivity
            ``E_Z ‖G(y, Z) − G(y + δ, Z)‖²`` at the maximiser ``δ`` ([O23] eq. 6; eq. 2
            *squared* for a deterministic model). Its batch mean is ``R̃`` (eq. 7).
        root: ``(B,)`` ``sqrt(value)`` — for a deterministic model this is eq. 2,
            ``‖G(y) − G(y + δ)‖₂`` (not squared); [O23] Table 3 reports ``sqrt(R̃)``.
        delta: ``(B, *in_shape)`` the maximiser found (feasible: in the ball and the box).
        output_psnr: ``(B,)`` eq. 9 per sample: the mean over the seeds of
            ``PSNR(G(y, z_k), G(y + δ, z_k))`` in dB (``inf`` where the outputs coincide).
        input_psnr: ``(B,)`` the adversarial-input PSNR ``PSNR(y + δ, y)`` (AI-PSNR).
        eps: ``(B,)`` the radii.
        ball: the ball's norm, ``"l2"``, ``"linf"`` or ``"l1"``.
        n_seeds: seeds evaluated per sample (1 for a deterministic estimator).
        solver: ``repr`` of the solver used.
        diagnostics: how converged the search is
            (:class:`~stochrobust.sensitivity.Diagnostics`; ``None`` when ``eps = 0``
            everywhere and no search ran).

    Examples:
        >>> res = sensitivity_at(lambda y: 2 * y, torch.zeros(2, 3), 0.5)
        >>> [round(v, 6) for v in res.value.tolist()], res.ball   # eq. 6 = (2·0.5)**2
        ([1.0, 1.0], 'l2')
        >>> torch.allclose(res.value, res.root**2)
        True
        >>> res.diagnostics.evaluations
        100
    """

    value: torch.Tensor
    root: torch.Tensor
    delta: torch.Tensor
    output_psnr: torch.Tensor
    input_psnr: torch.Tensor
    eps: torch.Tensor
    ball: str
    n_seeds: int
    solver: str
    diagnostics: Diagnostics | None = None

    @property
    def norm(self) -> torch.Tensor:
        """Deprecated 0.1 name of :attr:`root` (warns ``DeprecationWarning``)."""
        warn_renamed("SensitivityResult.norm", "SensitivityResult.root")
        return self.root

    def __repr__(self) -> str:
        return (
            f"SensitivityResult(B={self.value.shape[0]}, value {_summary(self.value)}, "
            f"root {_summary(self.root)}, output_psnr {_summary(self.output_psnr)} dB, "
            f"ball={self.ball!r}, n_seeds={self.n_seeds}, solver={self.solver})"
        )


@dataclass(repr=False)
class W2SensitivityResult:
    """Per-sample result of :func:`w2_sensitivity_at`.

    Attributes:
        value: ``(B,)`` the eq. 4 estimate: the empirical **squared** ``W₂`` between the
            seed clouds ``{G(y, z_k)}`` and ``{G(y + δ, z'_k)}`` at the maximiser ``δ``.
        same_seed_value: ``(B,)`` the eq. 6 objective ``mean_k ‖G(y, z_k) − G(y + δ, z_k)‖²``
            at the same ``δ``. With ``same_seeds=True``, ``value ≤ same_seed_value`` holds
            exactly (App. D; the identity matching is one feasible coupling).
        delta: ``(B, *in_shape)`` the maximiser found.
        eps: ``(B,)`` the radii.
        ball: the ball's norm.
        n_seeds: points per cloud.
        same_seeds: whether the two clouds used the same seeds (``z' = z``).
        solver: ``repr`` of the solver used.
        diagnostics: how converged the search of eq. 4 is (``None`` when no search ran).

    Examples:
        >>> res = w2_sensitivity_at(lambda y: 2 * y, torch.zeros(2, 3), 0.5)
        >>> [round(v, 6) for v in (*res.value.tolist(), *res.same_seed_value.tolist())]
        [1.0, 1.0, 1.0, 1.0]
    """

    value: torch.Tensor
    same_seed_value: torch.Tensor
    delta: torch.Tensor
    eps: torch.Tensor
    ball: str
    n_seeds: int
    same_seeds: bool
    solver: str
    diagnostics: Diagnostics | None = None

    def __repr__(self) -> str:
        return (
            f"W2SensitivityResult(B={self.value.shape[0]}, value {_summary(self.value)}, "
            f"same_seed_value {_summary(self.same_seed_value)}, ball={self.ball!r}, "
            f"n_seeds={self.n_seeds}, same_seeds={self.same_seeds}, solver={self.solver})"
        )


def sensitivity_at(
    estimator: Estimator | torch.nn.Module,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    ball: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    data_range: float | None = 1.0,
    warn: bool = True,
    norm: Any = _UNSET,
) -> SensitivityResult:
    """Same-seed sensitivity ``r̃(y) = max_{‖δ‖≤ε} E_Z ‖G(y, Z) − G(y + δ, Z)‖²`` per sample.

    The expectation is the mean over ``n_seeds`` seeds ``z_1..z_K`` drawn once and shared by
    the clean and the perturbed passes (common random numbers, [O23] eq. 6); the clean
    outputs are computed once without gradient, and every attack step evaluates all ``B·K``
    rows in one fused model call. The result's ``value`` is **squared** (eq. 6, and eq. 2
    squared for deterministic models); ``root`` is its square root (eq. 2 for deterministic
    models). For a deterministic estimator (or a raw model, wrapped as one) a single seed is
    evaluated whatever ``n_seeds`` says. ``eps = 0`` returns zeros (``δ = 0``, PSNRs ``inf``)
    without running the solver.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)`` (deterministic).
            Any callable holding modules works: they are found through closures,
            globals, attributes and containers (the "Model state" rules of the estimator
            guide) and guarded for the whole call.
        y: inputs ``(B, *in_shape)``, finite; never modified.
        eps: radius, a number or a ``(B,)`` tensor, ``≥ 0``.
        ball: the ball, ``"l2"`` (the paper's), ``"linf"`` or ``"l1"``.
        n_seeds: seeds ``K`` per input (``≥ 1``; the paper uses 10, and 50 for its toy).
        solver: the maximiser; ``None`` uses :func:`~stochrobust.sensitivity.default_solver`
            (``Protocol("default")``, 100 evaluations per input). The paper's attack is
            ``AdamAscent.paper_natural_images()`` (measurably weaker, see
            ``docs/sensitivity.md``, "How strong is the attack?").
        generator: random generator for the seeds and the random starts; the same state
            gives the same result bit for bit on CPU.
        box: ``(lo, hi)`` constraint on ``y + δ`` (e.g. ``(0, 1)``), or ``None``.
        data_range: peak-to-peak range of ``y`` and the outputs (default ``1.0``): ``y`` is
            validated against ``[0, data_range]`` and both PSNRs use it. ``None`` skips the
            check for inputs that are not images on a known range; the PSNR fields are then
            NaN.
        warn: issue a :class:`~stochrobust.ConvergenceWarning` when some sample has not
            converged (``robustness`` turns it off per batch and warns once).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        A :class:`SensitivityResult`. If some sample's search has not converged (see
        :class:`~stochrobust.sensitivity.Diagnostics`), a
        :class:`~stochrobust.ConvergenceWarning` says so.

    Raises:
        RangeError: ``eps < 0``, ``n_seeds < 1``, unknown ``ball``, ``y`` outside ``box``
            or outside ``[0, data_range]``, or ``eps`` too small to change ``y`` in its dtype.
        ShapeError: ``eps`` is not a number or ``(B,)``; ``y`` is 1-D, or a single image
            without its batch dimension for a convolutional model.
        NonFiniteError: NaN/Inf in ``y`` (named ``y``) or in the model output (named
            ``model output``).
        ModelError: the model raises (chained, with the entry point, the stage and the
            likely fix), returns the wrong batch size, shape or a non-float tensor, or does
            not depend differentiably on ``y``.
        StochRobustTypeError: a wrong argument type (e.g. ``solver``), or ``y`` is an
            inference tensor.
        StochRobustError: called inside ``torch.inference_mode()``.

    Shape:
        - ``y``: ``(B, *in_shape)``; ``value``, ``root``, PSNRs: ``(B,)``.

    References:
        [O23] eqs. 2, 6, 9 and App. E.2.3 (eq. 6 is squared, eq. 2 is not; a random start
        is required because the gradient of eq. 6 vanishes at ``δ = 0``).

    Examples:
        >>> A = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
        >>> res = sensitivity_at(lambda y: y @ A.T, torch.zeros(3, 2), 0.1,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> [round(v, 4) for v in res.root.tolist()]  # eq. 2: eps * sigma_max(A)
        [0.2, 0.2, 0.2]
        >>> round(float(res.value[0]), 4)             # eq. 6 = (eq. 2) squared
        0.04
    """
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    with prepare(
        estimator, y, eps, ball, n_seeds, solver, generator, box,
        entry="sensitivity_at", data_range=data_range,
    ) as p:  # fmt: skip
        if not p.any_active:
            zeros = torch.zeros(p.y.shape[0], dtype=p.y.dtype, device=p.y.device)
            inf = _psnr_or_nan(torch.full_like(zeros, float("inf")), p.data_range)
            return SensitivityResult(
                zeros, zeros.clone(), torch.zeros_like(p.y), inf, inf.clone(), p.eps, p.ball,
                p.n_seeds, repr(p.solver),
            )  # fmt: skip
        objective = SameSeedObjective(p.est, p.y, p.seeds, p.clean)
        best = _search(p, objective, generator)
    if warn:
        warn_unconverged(best.diagnostics, "sensitivity_at")
    assert best.aux is not None
    perturbed = best.aux
    check_output(perturbed, "at y + delta")
    batch, k = p.clean.shape[:2]
    with torch.no_grad():
        peak = 1.0 if p.data_range is None else p.data_range
        out_psnr = psnr(p.clean.flatten(0, 1), perturbed.flatten(0, 1), peak)
        in_psnr = psnr(p.y + best.delta, p.y, peak)
    return SensitivityResult(
        value=best.value,
        root=best.value.clamp_min(0).sqrt(),
        delta=best.delta,
        output_psnr=_psnr_or_nan(out_psnr.reshape(batch, k).mean(dim=1), p.data_range),
        input_psnr=_psnr_or_nan(in_psnr, p.data_range),
        eps=p.eps,
        ball=p.ball,
        n_seeds=p.n_seeds,
        solver=repr(p.solver),
        diagnostics=best.diagnostics,
    )


def _psnr_or_nan(values: torch.Tensor, data_range: float | None) -> torch.Tensor:
    """PSNRs as computed, or NaN when ``data_range=None`` (no peak, no PSNR); detached."""
    out = values.detach()
    return out if data_range is not None else torch.full_like(out, float("nan"))


def w2_sensitivity_at(
    estimator: Estimator | torch.nn.Module,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    ball: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    same_seeds: bool = True,
    data_range: float | None = 1.0,
    norm: Any = _UNSET,
) -> W2SensitivityResult:
    """Estimate the Wasserstein sensitivity ``max_{‖δ‖≤ε} W₂²(p(x̂|y), p(x̂|y+δ))`` ([O23] eq. 4).

    The output laws are replaced by the clouds ``{G(y, z_k)}`` and ``{G(y + δ, z'_k)}`` of
    ``K = n_seeds`` points each; their squared empirical ``W₂`` is computed exactly by an
    optimal assignment (:func:`~stochrobust.metrics.optimal_assignment`, on the detached
    outputs, on the host — one synchronisation per step) and the matched cost is
    differentiable in ``δ`` (envelope theorem), so the solver maximises it like any
    objective. The result also reports the eq. 6 objective at the same ``δ``.

    Which seeds: with ``same_seeds=True`` (default) ``z' = z``. Both clouds converge to
    their laws as ``K → ∞``, the estimate is exactly ``0`` at ``δ = 0``, and the identity
    matching is one feasible coupling, so ``value ≤ same_seed_value`` holds *exactly* for
    every ``δ`` and ``K`` — the finite-sample form of App. D (eq. 4 ≤ eq. 6). For small
    ``K`` it can stay close to eq. 6 (few points to re-match); use ``K`` in the hundreds for
    low-dimensional outputs. With ``same_seeds=False`` the clouds are independent: no
    correlation between them, but the estimate then carries a positive noise floor (the
    ``W₂²`` between two independent samples of the same law, shrinking like ``K^(−2/d)``)
    and may exceed eq. 6.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: inputs ``(B, *in_shape)``.
        eps: radius (number or ``(B,)``), ``≥ 0``.
        ball: the ball.
        n_seeds: points per cloud ``K``.
        solver: the maximiser (default: :func:`~stochrobust.sensitivity.default_solver`).
        generator: random generator (seeds and starts).
        box: ``(lo, hi)`` on ``y + δ`` or ``None``.
        same_seeds: use the same seeds for both clouds (see above). At ``eps = 0`` the
            solver is skipped: ``value`` is exactly ``0`` with the same seeds and the noise
            floor of the two independent clouds without them.
        data_range: range of ``y``, validated against ``[0, data_range]``; ``None`` skips
            the check (see :func:`sensitivity_at`).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        A :class:`W2SensitivityResult`.

    Raises:
        RangeError, ShapeError, NonFiniteError, ModelError, StochRobustTypeError: as
            :func:`sensitivity_at`.

    Shape:
        - ``y``: ``(B, *in_shape)``; ``value``, ``same_seed_value``: ``(B,)``.

    References:
        [O23] eq. 4, eq. 6 and App. D.

    Examples:
        >>> import stochrobust as sr
        >>> est = sr.Estimator(lambda y, z: torch.tanh(3 * y) + 0.1 * z, seed_shape=(2,))
        >>> res = w2_sensitivity_at(est, torch.zeros(2, 2), 0.2, n_seeds=8,
        ...                         generator=torch.Generator().manual_seed(0))
        >>> bool((res.value <= res.same_seed_value + 1e-6).all())
        True
    """
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    with prepare(
        estimator, y, eps, ball, n_seeds, solver, generator, box,
        entry="w2_sensitivity_at", data_range=data_range,
    ) as p:  # fmt: skip
        seeds2 = p.seeds if same_seeds else p.est.sample_seeds(p.y, p.n_seeds, generator=generator)
        objective = W2Objective(p.est, p.y, seeds2, p.clean)
        diagnostics = None
        if p.any_active:
            best = _search(p, objective, generator)
            delta, value, diagnostics = best.delta, best.value, best.diagnostics
        else:  # delta = 0; independent clouds still differ (the noise floor)
            delta = torch.zeros_like(p.y)
            with torch.no_grad():
                value = objective(delta)
        with torch.no_grad():
            eq6, _ = SameSeedObjective(p.est, p.y, p.seeds, p.clean)(delta)
    warn_unconverged(diagnostics, "w2_sensitivity_at")
    return W2SensitivityResult(
        value=value,
        same_seed_value=eq6,
        delta=delta,
        eps=p.eps,
        ball=p.ball,
        n_seeds=p.n_seeds,
        same_seeds=bool(same_seeds),
        solver=repr(p.solver),
        diagnostics=diagnostics,
    )


def local_lipschitz(
    estimator: Estimator | torch.nn.Module,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    ball: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    data_range: float | None = 1.0,
    norm: Any = _UNSET,
) -> torch.Tensor:
    """Lower bound on the local Lipschitz constant: ``‖G(y + δ) − G(y)‖₂ / ‖δ‖₂`` per sample.

    ``δ`` is the maximiser found by :func:`sensitivity_at` in the ``ball`` of radius
    ``eps``; any ``δ ≠ 0`` gives a valid lower bound on the L2 Lipschitz constant of ``G``
    ([O24]: erratic, high-perception deterministic models must have a large one). For a
    stochastic estimator the numerator is the root mean square over the seeds,
    ``sqrt(E_Z ‖G(y+δ, Z) − G(y, Z)‖²)``, a lower bound on ``max_k Lip(G(·, z_k))``.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: inputs ``(B, *in_shape)``.
        eps: radius (number or ``(B,)``), ``> 0``.
        ball: the ball used to search ``δ``.
        n_seeds: seeds per input (stochastic estimators).
        solver: the maximiser (default: :func:`~stochrobust.sensitivity.default_solver`).
        generator: random generator.
        box: ``(lo, hi)`` on ``y + δ`` or ``None``.
        data_range: range of ``y``, validated against ``[0, data_range]``; ``None`` skips
            the check (see :func:`sensitivity_at`).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        ``(B,)`` lower bounds.

    Raises:
        RangeError: ``eps ≤ 0`` (the ratio needs ``δ ≠ 0``), and as :func:`sensitivity_at`.

    Shape:
        - ``y``: ``(B, *in_shape)``; output: ``(B,)``.

    References:
        [O24] (Lipschitz lower bound of deterministic estimators with high perceptual
        quality).

    Examples:
        >>> A = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
        >>> lip = local_lipschitz(lambda y: y @ A.T, torch.zeros(2, 2), 0.1,
        ...                       generator=torch.Generator().manual_seed(0))
        >>> [round(v, 3) for v in lip.tolist()]  # sigma_max(A) for a linear model
        [3.0, 3.0]
    """
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    with prepare(
        estimator, y, eps, ball, n_seeds, solver, generator, box,
        entry="local_lipschitz", allow_zero=False, data_range=data_range,
    ) as p:  # fmt: skip
        objective = SameSeedObjective(p.est, p.y, p.seeds, p.clean)
        best = _search(p, objective, generator)
    warn_unconverged(best.diagnostics, "local_lipschitz")
    step = best.delta.flatten(1).norm(dim=1)
    tiny = torch.finfo(step.dtype).tiny
    lip: torch.Tensor = best.value.clamp_min(0).sqrt() / step.clamp_min(tiny)
    return lip
