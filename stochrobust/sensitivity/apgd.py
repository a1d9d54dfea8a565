"""APGD: parameter-free projected gradient ascent with step-size halving at checkpoints.

The Auto-PGD of Croce & Hein (2020), adapted from the classification loss to a general
differentiable per-sample objective (the sensitivity objectives [O23] eqs. 2, 4, 6, the
Lipschitz ratio, user objectives). Per sample, on the device, without host
synchronisation:

- a step ``z = Π(x + η·ε·d(∇f(x)))`` along the ball's steepest direction ``d``
  (``g/‖g‖₂`` on L2, ``sign(g)`` on L∞, the top-``l1_topk`` coordinates on L1 as in the
  sparse steps of Croce & Hein 2021), then the momentum combination
  ``x' = Π(x + α(z − x) + (1 − α)(x − x_prev))`` with ``α = 0.75`` (eq. 2 of APGD);
- checkpoints ``w_j = ⌈p_j·N⌉`` with ``p_0 = 0``, ``p_1 = 0.22``,
  ``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``; at each, the step size ``η`` (start
  ``2``, in radii) is halved and the iterate restarted from the best point of the run when
  (1) fewer than ``ρ = 75 %`` of the steps since the last checkpoint increased the objective,
  or (2) ``η`` was not halved at the last checkpoint and the best value has not improved
  since then.

The state of a run (:class:`APGDState`) can be continued, which the budgeted
:class:`~stochrobust.sensitivity.Protocol` uses to run several starts and continue the best.

References:
    Croce & Hein, Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks, ICML 2020, §3.1–3.2 (Algorithm 1, conditions 1–2).
    Croce & Hein, Mind the box: l1-APGD for sparse adversarial attacks on image
    classifiers, ICML 2021 (sparse L1 steps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from stochrobust._checks import check_int, check_number, check_positive
from stochrobust.sensitivity._ascent import Problem, steepest
from stochrobust.sensitivity.pgd import evaluate_last
from stochrobust.sensitivity.solvers import RestartSolver

__all__ = ["APGD", "APGDState", "checkpoints"]


def checkpoints(steps: int) -> list[int]:
    """The checkpoint iterations of a run of ``steps`` steps (Croce & Hein 2020, §3.2).

    Args:
        steps: the run's length.

    Returns:
        Sorted iteration indices in ``[1, steps)``.

    Examples:
        >>> checkpoints(100)
        [22, 41, 57, 70, 80, 87, 93, 99]
    """
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = {math.ceil(round(q * steps, 9)) for q in p[1:]}  # round: 0.57·100 is 57
    return sorted(m for m in marks if 0 < m < steps)


class APGDState(NamedTuple):
    """The state of one APGD run (all per sample, ``(B, ...)``).

    Attributes:
        x: the current (not yet evaluated) iterate.
        x_prev: the previous iterate (momentum).
        best_x: the best iterate of the run.
        best_grad: the gradient at ``best_x``.
        best_value: ``(B,)`` its value (``-inf`` before the first evaluation).
        last_value: ``(B,)`` the value at ``x_prev`` (success counting).
        eta: ``(B,)`` the step size in radii.
        fresh: no step taken yet (the first step has no momentum).
    """

    x: torch.Tensor
    x_prev: torch.Tensor
    best_x: torch.Tensor
    best_grad: torch.Tensor
    best_value: torch.Tensor
    last_value: torch.Tensor
    eta: torch.Tensor
    fresh: bool

    @classmethod
    def start(cls, x: torch.Tensor, eta: float) -> APGDState:
        """A fresh run from ``x`` with step size ``eta`` (radii).

        Args:
            x: the start.
            eta: the initial step size.

        Returns:
            The state.
        """
        ninf = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
        return cls(
            x, x, x, torch.zeros_like(x), ninf, ninf.clone(), torch.full_like(ninf, eta), True
        )


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.reshape(-1, *([1] * (a.ndim - 1))), a, b)


def apgd_run(
    problem: Problem,
    state: APGDState,
    steps: int,
    *,
    alpha: float = 0.75,
    rho: float = 0.75,
    l1_topk: int = 1,
    observe: Callable[[torch.Tensor], None] | None = None,
) -> APGDState:
    """Continue an APGD run by ``steps`` gradient evaluations with a fresh checkpoint schedule.

    Args:
        problem: the Problem (every evaluation goes through it).
        state: the run's state.
        steps: gradient evaluations.
        alpha: weight of the new step against the previous one (momentum ``1 − alpha``).
        rho: the success fraction of condition 1.
        l1_topk: coordinates moved per L1 step.
        observe: called with each gradient (the protocol's vertex screening uses it).

    Returns:
        The new state (its ``x`` not yet evaluated).
    """
    x, x_prev, best_x, best_g, best_f, f_prev, eta, fresh = state
    marks = set(checkpoints(steps))
    count = torch.zeros_like(best_f)
    f_mark = best_f
    halved_last = torch.zeros_like(best_f, dtype=torch.bool)
    since = 0
    for k in range(steps):
        f, _, g = problem.value_and_grad(x)
        if observe is not None:
            observe(g)
        count = count + (f > f_prev).to(count.dtype)
        better = f > best_f
        best_f = torch.where(better, f, best_f)
        best_x = _where(better, x, best_x)
        best_g = _where(better, g, best_g)
        since += 1
        if k in marks:
            stalled = count < rho * since
            flat = ~halved_last & (best_f <= f_mark)
            halve = stalled | flat
            eta = torch.where(halve, eta / 2, eta)
            x = _where(halve, best_x, x)
            x_prev = _where(halve, best_x, x_prev)
            g = _where(halve, best_g, g)
            f = torch.where(halve, best_f, f)
            halved_last, f_mark, count, since = halve, best_f, torch.zeros_like(count), 0
        z = problem.project(x + (eta.reshape(problem.eps_view.shape) * problem.eps_view)
                            * steepest(g, problem.ball, l1_topk))  # fmt: skip
        if fresh:
            x_new = z
            fresh = False
        else:
            x_new = problem.project(x + alpha * (z - x) + (1 - alpha) * (x - x_prev))
        x_prev, x, f_prev = x, x_new, f
    return APGDState(x, x_prev, best_x, best_g, best_f, f_prev, eta, fresh)


@dataclass
class APGD(RestartSolver):
    """Auto-PGD (Croce & Hein 2020) for a general objective: L2, L∞ and L1 balls, a box.

    Parameter-free in practice: the step size starts at ``2ε`` and is halved per sample at
    checkpoints when progress stalls, restarting from the best point (see the module
    docstring). ``steps`` gradient evaluations per restart plus one evaluation of the last
    iterate and (``mirror``) one of its mirror ``−delta``.

    Args:
        steps: gradient evaluations per restart (``≥ 1``).
        eta: initial step size in radii, ``> 0``.
        alpha: momentum weight ``α`` of APGD in ``(0, 1]`` (``1``: no momentum).
        rho: success fraction of condition 1 in ``(0, 1]``.
        restarts: independent runs, best kept per sample.
        random_start: start uniformly in the ball (needed: zero gradient at ``delta = 0``).
        l1_topk: coordinates moved per L1 step.
        mirror: also evaluate ``−delta`` at the end of each restart (see :class:`PGD`).

    Raises:
        RangeError: an argument out of range.
        StochRobustTypeError: a non-integer ``steps``, ``restarts`` or ``l1_topk``.

    References:
        Croce & Hein, ICML 2020, Algorithm 1 and §3.2; Croce & Hein, ICML 2021 (L1).

    Examples:
        >>> A = torch.tensor([[3.0, 1.0], [0.0, 1.0]])
        >>> best = APGD(steps=30).maximize(lambda d: (d @ A.T).pow(2).sum(1),
        ...                                torch.zeros(2, 2), 1.0,
        ...                                generator=torch.Generator().manual_seed(0))
        >>> s = torch.linalg.matrix_norm(A, ord=2) ** 2    # closed form: eps² σ_max(A)²
        >>> bool(torch.allclose(best.value, s.expand(2), rtol=1e-5))
        True
    """

    steps: int = 50
    eta: float = 2.0
    alpha: float = 0.75
    rho: float = 0.75
    l1_topk: int = 1
    mirror: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = check_int(self.steps, "steps", minimum=1)
        self.eta = check_positive(self.eta, "eta")
        self.alpha = check_number(self.alpha, "alpha", low=0.0, high=1.0, low_inclusive=False)
        self.rho = check_number(self.rho, "rho", low=0.0, high=1.0, low_inclusive=False)
        self.l1_topk = check_int(self.l1_topk, "l1_topk", minimum=1)
        self.mirror = bool(self.mirror)

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """One APGD run of ``steps`` gradient evaluations from ``delta``.

        Args:
            problem: the Problem.
            delta: the start.

        Returns:
            The last iterate.
        """
        state = apgd_run(
            problem,
            APGDState.start(delta, self.eta),
            self.steps,
            alpha=self.alpha,
            rho=self.rho,
            l1_topk=self.l1_topk,
        )
        return state.x

    def conclude(self, problem: Problem, last: torch.Tensor) -> None:
        """Evaluate the last iterate and, with ``mirror``, ``−delta``.

        Args:
            problem: the Problem.
            last: the last iterate.
        """
        evaluate_last(problem, last, self.mirror)
