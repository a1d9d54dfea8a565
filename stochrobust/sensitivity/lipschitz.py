"""Data-set lower bound on the Lipschitz constant of a restorer ([O24]).

:func:`lipschitz_lower_bound` maximises the ratio ``‖G(y + δ) − G(y)‖₂ / ‖δ‖₂`` itself over
the ball of radius ``eps`` around every input (not the output change of [O23] eq. 2, whose
maximiser sits on the boundary of the ball). Every ``δ ≠ 0`` gives a valid lower bound on
the global L2 Lipschitz constant of ``G``, so the largest ratio over a data set is one too.
:func:`tradeoff_bound` evaluates the right-hand side of the perception–robustness theorem of
[O24], ``m₁ / sqrt(W_p(p_{X,Y}, p_{X̂,Y})) − m₂``, for constants supplied by the caller.

Behaviour of the ratio objective (documented in ``docs/perception_robustness.md``):

- It is scale-invariant (0-homogeneous) for linear maps: ``‖A δ‖ / ‖δ‖`` does not depend on
  ``‖δ‖``, its gradient is orthogonal to ``δ``, and the radius only limits how far from
  ``y`` the search may go. For non-linear maps the ratio can be larger inside the ball (a
  steep local slope) or on its boundary (a large secant), and the solver moves radially.
- Near ``δ = 0`` the ratio tends to ``‖J u‖`` (``J`` the Jacobian at ``y``, ``u`` the
  direction of ``δ``) and its gradient grows like ``1/‖δ‖``; in float32 the difference
  ``G(y + δ) − G(y)`` loses its digits when ``‖δ‖`` is below about ``1e-3·‖y‖``, so keep
  ``eps`` well above that. At ``δ = 0`` exactly the ratio is defined as ``0`` (a trivial
  lower bound); the solvers start at a random point of the ball.

References:
    [O24] Ohayon, Michaeli, Elad. The Perception-Robustness Tradeoff in Deterministic Image
    Restoration. ICML 2024 (the bound ``Lip(X̂) ≥ m₁ / sqrt(W_p(p_{X,Y}, p_{X̂,Y})) − m₂``).
    [O23] Ohayon et al. ICML 2023, eq. 2 (deterministic sensitivity) and eq. 6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from stochrobust._checks import check_int, check_number, check_positive, check_tensor
from stochrobust.errors import RangeError, ShapeError
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.sensitivity._batches import iter_batches
from stochrobust.sensitivity._gradient import gradient_of
from stochrobust.sensitivity._objective import SameSeedObjective, check_output, prepare
from stochrobust.sensitivity.projections import check_ball
from stochrobust.sensitivity.solvers import Solver

__all__ = ["LipschitzBound", "lipschitz_lower_bound", "tradeoff_bound"]

_BOUNDARY = 1e-3
"""Relative tolerance under which a perturbation counts as lying on the ball's boundary."""

_SHELL = 4.0
"""Ratio between the radii of successive searches of :func:`lipschitz_lower_bound`."""


class _Ratio:
    """The objective ``δ ↦ sqrt(E_k ‖G(y + δ, z_k) − G(y, z_k)‖²) / ‖δ‖₂``, fused over seeds.

    For a deterministic model (one seed) it is ``‖G(y + δ) − G(y)‖₂ / ‖δ‖₂``. The ratio is
    formed as ``sqrt(max(num² / max(‖δ‖², tiny), tiny))`` so that it is finite, with a
    finite gradient, everywhere (``0`` at ``δ = 0``). Returns ``(values (B,), perturbed
    outputs (B, K, ...))`` as a solver objective.

    Args:
        objective: the same-seed objective ``δ ↦ E_k ‖G(y + δ, z_k) − G(y, z_k)‖²``.

    References:
        [O24] (Lipschitz lower bound); [O23] eq. 6 (common random numbers).
    """

    def __init__(self, objective: SameSeedObjective) -> None:
        self.objective = objective
        self.chunked = objective.chunked

    def __call__(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ratio and perturbed outputs at ``delta`` ``(B, *in_shape)``."""
        sq, out = self.objective(delta)
        return _ratio(sq, delta), out

    def value_and_grad(
        self, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Ratio, outputs and ``∇_δ Σ_b ratio_b``; chunked with the estimator's ``max_batch``.

        Chunked, the numerator's value and δ-gradient come chunk by chunk from the
        same-seed objective; the chain rule through ``_ratio`` is then applied per sample
        (each sample's values depend on its own row of ``δ`` only).
        """
        if not self.objective.chunked:
            return gradient_of(self, delta)
        sq, out, grad_sq = self.objective.value_and_grad(delta)
        s = sq.detach().requires_grad_(True)
        d = delta.detach().requires_grad_(True)
        with torch.enable_grad():
            value = _ratio(s, d)
            by_sq, by_delta = torch.autograd.grad(value.sum(), (s, d))
        grad = by_delta + by_sq.reshape(-1, *([1] * (d.ndim - 1))) * grad_sq
        return value.detach(), out, grad


def _ratio(sq: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(sq / max(‖δ‖², tiny), tiny))`` per sample."""
    tiny = torch.finfo(delta.dtype).tiny
    den = delta.flatten(1).pow(2).sum(1).clamp_min(tiny)
    return (sq / den).clamp_min(tiny).sqrt()


@dataclass(repr=False)
class LipschitzBound:
    """Result of :func:`lipschitz_lower_bound`.

    Attributes:
        value: the data-set lower bound on the L2 Lipschitz constant, ``max_i values[i]``.
        values: ``(N,)`` per-sample lower bounds ``‖G(y_i + δ_i) − G(y_i)‖₂ / ‖δ_i‖₂`` (CPU).
        delta_norm: ``(N,)`` ``‖δ_i‖₂`` at the maximiser (CPU).
        output_change: ``(N,)`` ``‖G(y_i + δ_i) − G(y_i)‖₂`` (root mean square over the
            seeds for stochastic estimators) (CPU).
        argmax: index of the sample that attains ``value``.
        at_boundary: share of samples whose ``δ_i`` lies on the boundary of the ball (within
            ``0.1 %`` of ``eps`` in the ball's norm). Near ``1``: the bound may grow with a
            larger ``eps``; near ``0``: the ratio peaks inside the ball (a local slope).
        eps: the radius.
        ball: the ball searched.
        n_seeds: seeds per input (1 for deterministic estimators).
        solver: ``repr`` of the solver.

    Examples:
        >>> res = lipschitz_lower_bound(lambda y: 2 * y, torch.rand(3, 2), 0.1,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> round(res.value, 4), res.n_samples
        (2.0, 3)
    """

    value: float
    values: torch.Tensor
    delta_norm: torch.Tensor
    output_change: torch.Tensor
    argmax: int
    at_boundary: float
    eps: float
    ball: str
    n_seeds: int
    solver: str

    @property
    def n_samples(self) -> int:
        """Number of samples evaluated (``len(values)``)."""
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        return (
            f"LipschitzBound(n={self.n_samples}, Lip >= {self.value:.4g} (sample "
            f"{self.argmax}), median {float(self.values.median()):.4g}, at_boundary="
            f"{self.at_boundary:.0%}, eps={self.eps:g}, ball={self.ball!r}, "
            f"n_seeds={self.n_seeds})"
        )


def _ball_norm(delta: torch.Tensor, ball: str) -> torch.Tensor:
    flat = delta.flatten(1)
    out: torch.Tensor
    if ball == "linf":
        out = flat.abs().amax(dim=1)
    elif ball == "l1":
        out = flat.abs().sum(dim=1)
    else:
        out = flat.norm(dim=1)
    return out


def lipschitz_lower_bound(
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
    shells: int = 4,
    data_range: float | None = 1.0,
) -> LipschitzBound:
    """Per-sample and data-set lower bounds on the Lipschitz constant of ``G`` ([O24]).

    For every input ``y`` the solver maximises the ratio ``‖G(y + δ) − G(y)‖₂ / ‖δ‖₂`` over
    ``δ`` in the ``ball`` of radius ``eps`` (intersected with ``box``); the ratio at the
    best ``δ`` found is a lower bound on the global L2 Lipschitz constant of ``G``, and so is
    the largest one over the data set. The search runs ``shells`` times, in the balls of
    radii ``eps, eps/4, eps/16, ...``, keeping the best ratio per sample: solvers with
    steps proportional to the radius (the default PGD) stay near the boundary of the ball
    they search, while the ratio of a non-linear model often peaks at a small ``‖δ‖`` (its
    local slope). For a stochastic estimator the numerator is the root
    mean square over ``n_seeds`` shared seeds (a lower bound on ``max_k Lip(G(·, z_k))``).
    The radius does not change the ratio of a linear map; see the module notes for
    non-linear ones and for small radii. ``data`` is a tensor ``(N, ...)`` cut into batches
    of ``batch_size`` or an iterable of batches (tensors or ``(y, ...)`` tuples), as in
    :func:`~stochrobust.sensitivity.robustness`.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)`` (deterministic).
        data: the inputs ``y`` (see above); never modified.
        eps: the radius, a number ``> 0``.
        ball: ``"l2"``, ``"linf"`` or ``"l1"``: where ``δ`` is searched (the ratio always
            uses the L2 norms).
        n_seeds: seeds per input for stochastic estimators (``≥ 1``).
        solver: the maximiser; ``None`` uses
            :func:`~stochrobust.sensitivity.default_solver` for ``ball``.
        generator: random generator for the seeds and the random starts; the same state
            gives the same result bit for bit on CPU.
        box: ``(lo, hi)`` constraint on ``y + δ`` or ``None``.
        batch_size: batch size when ``data`` is a tensor.
        shells: number of nested radii searched (``≥ 1``; solver cost is proportional).
        data_range: the inputs must lie in ``[0, data_range]`` (``None``: not checked; a
            ``box`` declares the range itself).

    Returns:
        A :class:`LipschitzBound`.

    Raises:
        RangeError: ``eps ≤ 0``, ``n_seeds < 1``, ``batch_size < 1``, ``shells < 1``, an
            unknown ``ball`` or ``y`` outside ``box``.
        StochRobustTypeError: ``data`` is not a tensor or an iterable of batches; a wrong
            ``solver``.
        ShapeError: ``data`` is empty.
        NonFiniteError: NaN/Inf in the inputs or in the model output.
        ModelError: the model returns a wrong shape or is not differentiable in its input.

    Shape:
        - ``data``: ``(N, *in_shape)`` or batches ``(B_i, *in_shape)``; per-sample fields
          ``(N,)``.

    References:
        [O24] (``Lip(X̂) ≥ m₁ / sqrt(W_p(p_{X,Y}, p_{X̂,Y})) − m₂``); [O23] eqs. 2 and 6.

    Examples:
        >>> w = torch.linspace(1.0, 3.0, 4)
        >>> res = lipschitz_lower_bound(lambda y: torch.sin(w * 10 * y), torch.zeros(2, 4),
        ...                             0.5, generator=torch.Generator().manual_seed(0))
        >>> res.value > 25.0  # the local slope 30 at y = 0, inside the ball
        True
    """
    eps_f = check_positive(eps, "eps")
    bs = check_int(batch_size, "batch_size", minimum=1)
    n_shells = check_int(shells, "shells", minimum=1)
    batches, _ = iter_batches(data, bs)
    values: list[torch.Tensor] = []
    steps: list[torch.Tensor] = []
    sizes: list[torch.Tensor] = []
    ball_name, seeds_used, solver_repr = str(ball), n_seeds, repr(solver)
    est = as_estimator(estimator)
    with est.guarded("lipschitz_lower_bound", freeze=True, eval_mode=True, arg="estimator"):
        for y in batches:
            with prepare(
                est, y, eps_f, check_ball(ball), n_seeds, solver, generator, box,
                entry="lipschitz_lower_bound", allow_zero=False, data_range=data_range,
            ) as p:  # fmt: skip
                objective = _Ratio(SameSeedObjective(p.est, p.y, p.seeds, p.clean))
                value = torch.full_like(p.eps, float("-inf"))
                delta = torch.zeros_like(p.y)
                for k in range(n_shells):
                    best = p.solver.maximize(
                        objective, p.y, p.eps * _SHELL**-k, ball=p.ball, box=p.box,
                        generator=generator, validate_args=False,
                    )  # fmt: skip
                    # The model saw fl(y + δ): report the ratio over that input change
                    # (an exact subtraction), not over ‖δ‖, which differ by up to ~1e-4
                    # relatively for small δ in float32 — enough to report a "lower
                    # bound" above the true constant.
                    step = best.delta.flatten(1).norm(dim=1)
                    moved = ((p.y + best.delta) - p.y).flatten(1).norm(dim=1)
                    ratio = torch.where(moved > 0, best.value * step / moved, best.value)
                    better = ratio > value
                    value = torch.where(better, ratio, value)
                    delta = torch.where(
                        better.reshape(-1, *([1] * (delta.ndim - 1))), best.delta, delta
                    )
                    if best.aux is not None:
                        check_output(best.aux, "at y + delta")
            values.append(value.cpu())
            steps.append(delta.flatten(1).norm(dim=1).cpu())
            sizes.append(_ball_norm(delta, p.ball).cpu())
            ball_name, seeds_used, solver_repr = p.ball, p.n_seeds, repr(p.solver)
    if not values:
        raise ShapeError("data: expected at least one batch, got an empty iterable")
    v = torch.cat(values)
    step = torch.cat(steps)
    on_edge = torch.cat(sizes) >= (1.0 - _BOUNDARY) * eps_f
    return LipschitzBound(
        value=float(v.max()),
        values=v,
        delta_norm=step,
        output_change=v * step,
        argmax=int(v.argmax()),
        at_boundary=float(on_edge.double().mean()),
        eps=eps_f,
        ball=ball_name,
        n_seeds=seeds_used,
        solver=solver_repr,
    )


def tradeoff_bound(
    joint_index: float | torch.Tensor, *, m1: float, m2: float = 0.0
) -> torch.Tensor:
    """Right-hand side ``m₁ / sqrt(W) − m₂`` of the perception–robustness theorem ([O24]).

    [O24] proves that a deterministic estimator ``X̂ = G(Y)`` of a non-invertible
    degradation satisfies ``Lip(G) ≥ m₁ / sqrt(W_p(p_{X,Y}, p_{X̂,Y})) − m₂``, with
    constants ``m₁ > 0`` and ``m₂`` that depend on the laws of the problem and not on
    ``G``. This function evaluates that curve for constants the caller provides; the
    library computes none of them (our reference text of [O24] states the form of the bound
    only). Compare the curve with :func:`lipschitz_lower_bound` values against
    :func:`~stochrobust.metrics.joint_perceptual_index` values on a log–log plot.

    Args:
        joint_index: ``W_p(p_{X,Y}, p_{X̂,Y})`` values, ``> 0`` (a number or a tensor).
        m1: the constant ``m₁ > 0``.
        m2: the constant ``m₂`` (any real number).

    Returns:
        The bound, a tensor of ``joint_index``'s shape (float64 for a number).

    Raises:
        RangeError: ``m1 ≤ 0`` or a non-positive ``joint_index``.
        StochRobustTypeError: a non-numeric argument.

    Shape:
        - ``joint_index``: any; output: the same.

    References:
        [O24] the Lipschitz bound ``Lip(X̂) ≥ m₁ / sqrt(W_p(p_{X,Y}, p_{X̂,Y})) − m₂``.

    Examples:
        >>> tradeoff_bound(torch.tensor([0.25, 1.0]), m1=2.0, m2=1.0).tolist()
        [3.0, 1.0]
    """
    a = check_positive(m1, "m1")
    b = check_number(m2, "m2")
    if isinstance(joint_index, torch.Tensor):
        w = check_tensor(joint_index, "joint_index")
    else:
        w = torch.tensor(check_number(joint_index, "joint_index"), dtype=torch.float64)
    if not bool((w > 0).all()):
        raise RangeError(f"joint_index: expected values > 0, got minimum {float(w.min()):g}")
    out: torch.Tensor = a / w.sqrt() - b
    return out
