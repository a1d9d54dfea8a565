"""Attack solvers: maximise a differentiable per-sample objective over a norm ball.

This module holds the :class:`Solver` base class and the projected steepest-ascent family
(:class:`PGD`, :class:`FGSM`, :class:`BIM`); the optimiser-driven solvers
(:class:`~stochrobust.sensitivity.adaptive.AdamAscent`, the attack of [O23], and
:class:`~stochrobust.sensitivity.adaptive.CW`) live in :mod:`stochrobust.sensitivity.adaptive`.

A solver is objective-agnostic. It receives ``objective(delta) -> (B,)`` — values to
*maximise*, differentiable in ``delta`` — the centre ``y`` (only its shape, dtype, device and
box matter), the radius ``eps`` (a number or a ``(B,)`` tensor), the ball (``"l2"``,
``"linf"``, ``"l1"``) and an optional box ``[lo, hi]`` on ``y + delta``, and returns the best
feasible ``delta`` it evaluated, per sample, over all steps and restarts::

    delta = solver(objective, y, eps, norm="l2", box=(0.0, 1.0), generator=g)
    best = solver.maximize(objective, y, eps)      # Ascent(delta, value, aux)

The objective may also return ``(values, aux)``; ``aux`` (leading dim ``B``) is kept for the
best iterate (the sensitivity functions use it to keep the perturbed outputs).

Conventions shared by every solver:

- ``steps`` gradient evaluations per restart (forward + backward), then one final
  evaluation of the last iterate without gradient (and, for :class:`PGD`, of its mirror
  ``−delta``): ``steps + 1`` (``+ 2``) objective values per restart, the best of which is
  returned. The best is tracked on the device with
  ``torch.where``; there is no host synchronisation inside the loop.
- Random start (default): uniform in the ball (then clipped to the box). The sensitivity
  objectives ``‖G(y) − G(y + δ)‖²`` have an exactly zero gradient at ``δ = 0``, so a solver
  started there never moves ([O23] eq. 6; SPEC §2). With ``random_start=False`` the start is
  ``δ = 0`` and an identically zero gradient raises :class:`~stochrobust.ModelError`.
- Projection onto the ball, then clipping to the box, after every step ([O23] App. E.2.3).
- ``restarts`` independent runs, the best per sample kept; the first restart draws exactly
  what a single run draws from ``generator``, so more restarts are never worse.
- Gradients are taken with :func:`torch.autograd.grad` with respect to ``delta`` only, so
  no ``.grad`` attribute is ever written.

References:
    [O23] Ohayon et al. 2023, App. E.2.3 (5 Adam steps, lr 1, projection after each step)
    and App. E.1 (4 Adam steps, lr 1e-4).
    [C24] Chaouai et al. 2024, §3.1, eq. 1 (FGSM), its iterative form (BIM), PGD with a
    uniform start, eq. 2 (Carlini–Wagner in tanh space).
    Madry et al. 2018 (PGD); Dong et al. 2018 and Croce & Hein 2020 (momentum in PGD).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from stochrobust._checks import (
    RangeError,
    check_int,
    check_number,
    check_positive,
)
from stochrobust.sensitivity._ascent import (
    Ascent,
    Objective,
    Problem,
    steepest,
    validate,
)
from stochrobust.sensitivity.projections import NORMS

__all__ = ["BIM", "FGSM", "PGD", "Ascent", "Solver", "default_solver"]


class Solver(abc.ABC):
    """Base class: validation, restarts and best-of bookkeeping around :meth:`_ascend`.

    Subclasses implement one restart in :meth:`_ascend` on a
    :class:`~stochrobust.sensitivity._ascent.Problem` (which evaluates the objective,
    projects and records the best iterate).

    Args:
        restarts: independent runs, best kept per sample (``≥ 1``).
        random_start: start uniformly in the ball instead of at ``delta = 0``.

    Raises:
        RangeError: ``restarts < 1``.

    References:
        [O23] App. E.2.3 (projection after each step); SPEC §2 (random start).

    Examples:
        >>> from stochrobust.sensitivity import AdamAscent, CW
        >>> all(issubclass(c, Solver) for c in (PGD, AdamAscent, FGSM, BIM, CW))
        True
    """

    norms: ClassVar[tuple[str, ...]] = NORMS
    """The balls this solver supports."""

    def __init__(self, *, restarts: int = 1, random_start: bool = True) -> None:
        self.restarts = check_int(restarts, "restarts", minimum=1)
        self.random_start = bool(random_start)

    def __call__(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        norm: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return the best ``delta`` found: ``self.maximize(...).delta``.

        Args:
            objective: values to maximise, see :meth:`maximize`.
            y: centre of the ball ``(B, ...)``.
            eps: radius, a number or ``(B,)``.
            norm: the ball.
            box: ``(lo, hi)`` on ``y + delta`` or ``None``.
            generator: random generator for the starts.

        Returns:
            ``delta``, ``(B, ...)``, detached.

        Raises:
            RangeError, ShapeError, NonFiniteError, ModelError: see :meth:`maximize`.

        Examples:
            >>> PGD()(lambda d: d.sum(1) ** 2, torch.zeros(1, 2), 1.0, norm="l1").abs().sum()
            tensor(1.)
        """
        return self.maximize(objective, y, eps, norm=norm, box=box, generator=generator).delta

    def maximize(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        norm: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> Ascent:
        """Maximise ``objective`` over ``{delta : ‖delta‖ ≤ eps, y + delta ∈ box}``.

        Args:
            objective: ``objective(delta)`` → ``(B,)`` values to maximise, differentiable in
                ``delta``, or ``(values, aux)`` with ``aux`` a tensor of leading dim ``B``.
                Rows must be independent (row ``b`` of the values depends on row ``b`` of
                ``delta`` only).
            y: centre of the ball, ``(B, ...)``; finite.
            eps: radius, a number or a ``(B,)`` tensor, ``≥ 0``.
            norm: ``"l2"``, ``"linf"`` or ``"l1"`` (see :attr:`norms`).
            box: ``(lo, hi)`` constraint on ``y + delta`` or ``None``; ``y`` must lie inside.
            generator: random generator for the random starts.

        Returns:
            :class:`Ascent` ``(delta, value, aux)``, all detached.

        Raises:
            NonFiniteError: ``y`` holds NaN/Inf, or the objective is not finite at any
                iterate of some sample.
            RangeError: a negative ``eps``, an unsupported ``norm``, ``lo > hi`` or ``y``
                outside the box.
            ShapeError: ``eps`` or the objective's output has the wrong shape.
            ModelError: the objective does not depend differentiably on ``delta`` (does not
                require grad, or its gradient is identically zero at the start).

        Shape:
            - ``y``, ``delta``: ``(B, *)``; ``eps``, ``value``: ``(B,)``.

        Examples:
            >>> A = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
            >>> obj = lambda d: (d @ A.T).pow(2).sum(1)
            >>> best = PGD().maximize(obj, torch.zeros(1, 2), 1.0,
            ...                       generator=torch.Generator().manual_seed(0))
            >>> round(float(best.value[0]), 4)  # sigma_max(A)**2 * eps**2
            9.0
        """
        yt, e, n, b = validate(y, eps, norm, box, generator)
        if n not in self.norms:
            raise RangeError(
                f"norm: expected one of {self.norms} for {type(self).__name__}, got {n!r}"
            )
        return self._solve(objective, yt, e, n, b, generator)

    def _solve(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: torch.Tensor,
        norm: str,
        box: tuple[float, float] | None,
        generator: torch.Generator | None,
    ) -> Ascent:
        """:meth:`maximize` on validated arguments.

        ``eps`` is a ``(B,)`` tensor on ``y``'s device. Used by the sensitivity functions,
        which validate once themselves.
        """
        problem = Problem(objective, y, eps, norm, box, self.random_start)
        for _ in range(self.restarts):
            last = self._ascend(problem, problem.start(generator, self.random_start))
            self._conclude(problem, last)
        return problem.finish()

    def _conclude(self, problem: Problem, last: torch.Tensor) -> None:
        """Evaluate the last iterate of a restart (no gradient)."""
        problem.evaluate(last)

    @abc.abstractmethod
    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """Run one restart from ``delta``; return the last (not yet evaluated) iterate."""

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._extra_repr()
        sep = ", " if extra else ""
        return (
            f"{type(self).__name__}({extra}{sep}restarts={self.restarts}, "
            f"random_start={self.random_start})"
        )


class PGD(Solver):
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
        (momentum 0.75 in APGD); SPEC §2 (random start).

    Examples:
        >>> obj = lambda d: (2.0 * d).pow(2).sum(1)
        >>> y = torch.zeros(3, 4)
        >>> delta = PGD(steps=5)(obj, y, 0.5, norm="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> delta.abs().max().item()  # every coordinate at the L-inf radius
        0.5
    """

    def __init__(
        self,
        steps: int = 20,
        step_size: float = 4.0,
        momentum: float = 0.75,
        *,
        restarts: int = 1,
        random_start: bool = True,
        l1_topk: int = 1,
        mirror: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.mirror = bool(mirror)
        self.steps = check_int(steps, "steps", minimum=1)
        self.step_size = check_positive(step_size, "step_size")
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        self.l1_topk = check_int(l1_topk, "l1_topk", minimum=1)

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        alpha = self.step_size * problem.eps_view
        prev = delta
        for _ in range(self.steps):
            _, _, grad = problem.value_and_grad(delta)
            move = alpha * steepest(grad, problem.norm, self.l1_topk)
            if self.momentum > 0:
                move = move + self.momentum * (delta - prev)
            prev, delta = delta, problem.project(delta + move)
        return delta

    def _conclude(self, problem: Problem, last: torch.Tensor) -> None:
        problem.evaluate(last)
        if self.mirror:
            problem.evaluate(problem.project(-last))

    def _extra_repr(self) -> str:
        return (
            f"steps={self.steps}, step_size={self.step_size:g}, momentum={self.momentum:g}, "
            f"l1_topk={self.l1_topk}, mirror={self.mirror}"
        )


class FGSM(PGD):
    """Fast gradient (sign) method from a random start: one steepest step of length ``ε``.

    ``delta = Π(delta₀ + step_size·ε·d(∇))`` with ``d`` as in :class:`PGD` (``sign`` on L∞,
    [C24] eq. 1). The classical FGSM starts at ``delta₀ = 0``; for the sensitivity
    objectives the gradient there is exactly zero, so this one starts at a uniform random
    point of the ball (as R+FGSM, Tramèr et al. 2018) and returns the better of the start
    and the step.

    Args:
        step_size: step length as a multiple of ``eps``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        Goodfellow et al. 2015; [C24] eq. 1.

    Examples:
        >>> obj = lambda d: d.pow(2).sum(1)
        >>> delta = FGSM()(obj, torch.zeros(2, 3), 0.1, norm="linf",
        ...                generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(delta.abs(), torch.full((2, 3), 0.1))
        True
    """

    def __init__(
        self, step_size: float = 1.0, *, restarts: int = 1, random_start: bool = True
    ) -> None:
        super().__init__(
            steps=1,
            step_size=step_size,
            momentum=0.0,
            restarts=restarts,
            random_start=random_start,
            mirror=False,
        )

    def _extra_repr(self) -> str:
        return f"step_size={self.step_size:g}"


class BIM(PGD):
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
        >>> delta = BIM(steps=4)(obj, torch.zeros(1, 3), 0.2, norm="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> bool(delta.abs().max() <= 0.2)
        True
    """

    def __init__(self, steps: int = 10, *, restarts: int = 1, random_start: bool = True) -> None:
        steps = check_int(steps, "steps", minimum=1)
        super().__init__(
            steps=steps,
            step_size=1.0 / steps,
            momentum=0.0,
            restarts=restarts,
            random_start=random_start,
            mirror=False,
        )

    def _extra_repr(self) -> str:
        return f"steps={self.steps}"


_L1_RESTARTS = 10


def default_solver(norm: str = "l2") -> Solver:
    """The solver :func:`~stochrobust.sensitivity.sensitivity_at` uses when none is given.

    ``PGD()`` (20 steps, step ``4ε``, momentum 0.75, one random start) for the L2 and L∞
    balls; ``PGD(steps=10, restarts=10)`` for the L1 ball, where every vertex ``±ε·eᵢ`` is a
    local maximum of a convex objective and only restarts find the best one.

    Args:
        norm: ``"l2"``, ``"linf"`` or ``"l1"``.

    Returns:
        A fresh solver.

    Raises:
        RangeError: unknown ``norm``.

    Examples:
        >>> solver = default_solver("l1")
        >>> type(solver).__name__, solver.steps, solver.restarts
        ('PGD', 10, 10)
    """
    if norm not in NORMS:
        raise RangeError(f"norm: expected one of {NORMS}, got {norm!r}")
    if norm == "l1":
        return PGD(steps=10, restarts=_L1_RESTARTS)
    return PGD()
