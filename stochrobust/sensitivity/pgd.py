"""Projected steepest ascent: :class:`PGD`, :class:`FGSM`, :class:`BIM`.

One step moves ``δ`` along the unit steepest-ascent direction of the ball's norm
(``g/‖g‖₂`` on L2, ``sign(g)`` on L∞, the top-k coordinates on L1), optionally with
heavy-ball momentum, then projects onto the ball and the box. They follow the conventions
of :mod:`stochrobust.sensitivity.solvers` (random start, best iterate per sample tracked on
the device, independent restarts).

References:
    Madry et al. 2018 (PGD); [C24] Chaouai et al. 2024, §3.1, eq. 1 (FGSM) and its
    iterative form (BIM); Kurakin et al. 2017; Goodfellow et al. 2015.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import ClassVar

import torch

from stochrobust._checks import check_int, check_number, check_positive
from stochrobust.sensitivity._ascent import Problem, steepest
from stochrobust.sensitivity.solvers import RestartSolver

__all__ = ["BIM", "FGSM", "PGD", "evaluate_last", "steepest_ascent"]


def evaluate_last(problem: Problem, last: torch.Tensor, mirror: bool) -> None:
    """Evaluate the last iterate of a restart and, with ``mirror``, its mirror ``−delta``.

    Sensitivity objectives are even to first order in ``delta``, so an ascent ends on
    whichever side its random start favoured; the second-order term decides which is larger.
    """
    problem.evaluate(last)
    if mirror:
        problem.evaluate(problem.project(-last))


def steepest_ascent(
    problem: Problem,
    delta: torch.Tensor,
    steps: int,
    step_size: float,
    momentum: float = 0.0,
    l1_topk: int = 1,
) -> torch.Tensor:
    """``steps`` projected steepest-ascent steps with heavy-ball momentum (see :class:`PGD`).

    Args:
        problem: the Problem.
        delta: the start.
        steps: gradient evaluations.
        step_size: step length as a multiple of ``eps``.
        momentum: heavy-ball coefficient.
        l1_topk: coordinates moved per L1 step.

    Returns:
        The last (not yet evaluated) iterate.
    """
    alpha = step_size * problem.eps_view
    prev = delta
    for _ in range(steps):
        _, _, grad = problem.value_and_grad(delta)
        move = alpha * steepest(grad, problem.ball, l1_topk)
        if momentum > 0:
            move = move + momentum * (delta - prev)
        prev, delta = delta, problem.project(delta + move)
    return delta


@dataclass
class PGD(RestartSolver):
    """Projected steepest ascent with heavy-ball momentum, for L2, L∞ and L1 balls.

    One step: ``delta ← Π(delta + step_size·ε·d(g) + momentum·(delta − delta_prev))`` where
    ``g`` is the gradient, ``Π`` the projection onto the ball (then the box) and ``d`` the
    unit steepest-ascent direction of the ball's norm: ``g/‖g‖₂`` (L2), ``sign(g)`` (L∞),
    ``sign(g)`` on the ``l1_topk`` largest ``|g|`` coordinates, each ``1/l1_topk`` (L1; ``1``
    is the exact steepest direction, which moves from vertex to vertex of the L1 ball).

    The default step (four radii, then projected) makes every step land on the boundary,
    where the maxima of the (locally convex) sensitivity objectives lie; for a linear model
    it is a shifted power iteration on ``AᵀA``, which converges at the rate of the spectral
    gap ``(σ₂/σ₁)²`` per step. The momentum term is the heavy-ball form of MI-FGSM / APGD.
    ``PGD()`` was the default solver of stochrobust 0.1; the 0.2 default is
    :class:`~stochrobust.sensitivity.Protocol` (see ``docs/sensitivity.md``, "How strong is
    the attack?", for the measured gap).

    Args:
        steps: gradient evaluations per restart (``≥ 1``).
        step_size: step length as a multiple of ``eps`` (per sample), ``> 0``.
        momentum: heavy-ball coefficient in ``[0, 1)``.
        restarts: independent runs, best kept per sample.
        random_start: start uniformly in the ball (needed: zero gradient at ``delta = 0``).
        l1_topk: coordinates moved per L1 step (``≥ 1``).
        mirror: also evaluate the mirrored last iterate ``−delta`` (one forward pass per
            restart). Sensitivity objectives are even to first order in ``delta``, so the
            ascent converges to whichever of ``±delta`` its random start favoured; the
            second-order term decides which is larger (up to ~10% on the 1-D disk toy).

    Raises:
        RangeError: an argument out of range.
        StochRobustTypeError: a non-integer ``steps``, ``restarts`` or ``l1_topk``.

    References:
        Madry et al. 2018 (PGD); [C24] §3.1 (PGD with uniform start); Croce & Hein 2020
        (momentum 0.75 in APGD).

    Examples:
        >>> obj = lambda d: (2.0 * d).pow(2).sum(1)
        >>> y = torch.zeros(3, 4)
        >>> delta = PGD(steps=5)(obj, y, 0.5, ball="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> delta.abs().max().item()  # every coordinate at the L-inf radius
        0.5
    """

    steps: int = 20
    step_size: float = 4.0
    momentum: float = 0.75
    _: KW_ONLY
    l1_topk: int = 1
    mirror: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mirror = bool(self.mirror)
        self.steps = check_int(self.steps, "steps", minimum=1)
        self.step_size = check_positive(self.step_size, "step_size")
        self.momentum = check_number(
            self.momentum, "momentum", low=0.0, high=1.0, high_inclusive=False
        )
        self.l1_topk = check_int(self.l1_topk, "l1_topk", minimum=1)

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """One restart of projected steepest ascent (see the class docstring).

        Arguments and result (the last iterate) as in :meth:`RestartSolver.ascend`.
        """
        return steepest_ascent(
            problem, delta, self.steps, self.step_size, self.momentum, self.l1_topk
        )

    def conclude(self, problem: Problem, last: torch.Tensor) -> None:
        """Evaluate the last iterate and, with ``mirror``, its mirror ``−delta``.

        Args:
            problem: the Problem.
            last: the last iterate.
        """
        evaluate_last(problem, last, self.mirror)


@dataclass
class FGSM(RestartSolver):
    """Fast gradient (sign) method from a random start: one steepest step of length ``ε``.

    ``delta = Π(delta₀ + step_size·ε·d(∇))`` with ``d`` as in :class:`PGD` (``sign`` on L∞,
    [C24] eq. 1). The classical FGSM starts at ``delta₀ = 0``; for the sensitivity
    objectives the gradient there is exactly zero, so this one starts at a uniform random
    point of the ball (as R+FGSM, Tramèr et al. 2018) and returns the better of the start
    and the step. Its budget scales through ``restarts`` (it has one step by definition).

    Args:
        step_size: step length as a multiple of ``eps``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        Goodfellow et al. 2015; [C24] eq. 1.

    Examples:
        >>> obj = lambda d: d.pow(2).sum(1)
        >>> delta = FGSM()(obj, torch.zeros(2, 3), 0.1, ball="linf",
        ...                generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(delta.abs(), torch.full((2, 3), 0.1))
        True
        >>> FGSM(restarts=4).scaled(0.5).restarts  # the budget scales through restarts
        2
    """

    budget_count: ClassVar[str] = "restarts"

    step_size: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.step_size = check_positive(self.step_size, "step_size")

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """One steepest step from the random start ``delta``.

        Arguments as in :meth:`RestartSolver.ascend`; returns the stepped point.
        """
        return steepest_ascent(problem, delta, 1, self.step_size)


@dataclass
class BIM(RestartSolver):
    """Basic iterative method (I-FGSM): ``steps`` sign steps of ``α = ε / steps``.

    [C24]'s iterative form of eq. 1, ``x_t = x_{t−1} + α·sign(∇)``, with ``α = ε/T``, from a
    uniform random start (the sensitivity objectives have a zero gradient at ``delta = 0``)
    and a projection onto the ball (and box) after each step. On L2 / L1 balls the sign is
    replaced by the ball's steepest direction (see :class:`PGD`). Choi et al.'s I-FGSM for
    super-resolution is ``BIM(steps=50)`` on an L∞ ball.

    Args:
        steps: number of steps ``T``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        Kurakin et al. 2017; [C24] §3.1; Choi et al. 2019.

    Examples:
        >>> obj = lambda d: d.sum(1) ** 2
        >>> delta = BIM(steps=4)(obj, torch.zeros(1, 3), 0.2, ball="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> bool(delta.abs().max() <= 0.2)
        True
    """

    steps: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = check_int(self.steps, "steps", minimum=1)

    @property
    def step_size(self) -> float:
        """``α / ε = 1 / steps``."""
        return 1.0 / self.steps

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """``steps`` sign steps of ``ε / steps``.

        Arguments and result (the last iterate) as in :meth:`RestartSolver.ascend`.
        """
        return steepest_ascent(problem, delta, self.steps, self.step_size)
