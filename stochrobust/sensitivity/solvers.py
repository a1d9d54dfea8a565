"""Attack solvers: maximise a differentiable per-sample objective over a norm ball.

This module holds the :class:`Solver` contract and the :class:`RestartSolver` base
(independent restarts around one ascent); the projected steepest-ascent family
(:class:`~stochrobust.sensitivity.PGD`, :class:`~stochrobust.sensitivity.FGSM`,
:class:`~stochrobust.sensitivity.BIM`) lives in :mod:`stochrobust.sensitivity.pgd`, the
parameter-free :class:`~stochrobust.sensitivity.APGD` and
the budgeted default :class:`~stochrobust.sensitivity.Protocol` live in their own modules;
the optimiser-driven solvers
(:class:`~stochrobust.sensitivity.adaptive.AdamAscent`, the attack of [O23], and
:class:`~stochrobust.sensitivity.adaptive.CW`) live in :mod:`stochrobust.sensitivity.adaptive`.

A solver is objective-agnostic. It receives ``objective(delta) -> (B,)`` — values to
*maximise*, differentiable in ``delta`` — the centre ``y`` (only its shape, dtype, device and
box matter), the radius ``eps`` (a number or a ``(B,)`` tensor), the ball (``"l2"``,
``"linf"``, ``"l1"``) and an optional box ``[lo, hi]`` on ``y + delta``, and returns the best
feasible ``delta`` it evaluated, per sample, over all steps and restarts::

    delta = solver(objective, y, eps, ball="l2", box=(0.0, 1.0), generator=g)
    best = solver.maximize(objective, y, eps)   # Ascent(delta, value, aux, diagnostics)

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
  started there never moves ([O23] eq. 6; see ``docs/sensitivity.md``, "Solvers"). With
  ``random_start=False`` the start is
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
import dataclasses
import math
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar

import torch

from stochrobust._checks import check_int, check_positive
from stochrobust._deprecate import _UNSET, renamed_argument
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.sensitivity._ascent import (
    Ascent,
    Objective,
    Problem,
    validate,
)
from stochrobust.sensitivity.projections import BALLS

__all__ = ["Ascent", "RestartSolver", "Solver", "check_solver_type", "scale_count"]


def scale_count(count: int, factor: float) -> int:
    """``max(1, round(count · factor))`` with halves rounded up (a scaled step/restart count).

    Args:
        count: the configured count (``≥ 1``).
        factor: the budget factor, ``> 0``.

    Returns:
        The scaled count.

    Raises:
        RangeError: ``count < 1`` or ``factor ≤ 0``.

    Examples:
        >>> scale_count(20, 0.25), scale_count(5, 0.1), scale_count(5, 0.5)
        (5, 1, 3)
    """
    n = check_int(count, "count", minimum=1)
    f = check_positive(factor, "factor")
    return max(1, math.floor(n * f + 0.5))


class Solver(abc.ABC):
    """The solver contract: maximise a per-sample objective over a ball (and a box).

    A solver implements :meth:`search` on a :class:`~stochrobust.sensitivity.Problem` (which
    evaluates the objective, projects, records the best iterate and builds the diagnostics)
    and :meth:`scaled` (the same solver with its budget scaled). Library code and users
    alike call :meth:`maximize`; solvers with independent restarts around one ascent
    subclass :class:`RestartSolver` and implement :meth:`RestartSolver.ascend` instead.

    References:
        [O23] App. E.2.3 (projection after each step); Croce & Hein, ICML 2020 (best iterate
        over all steps and restarts).

    Examples:
        >>> from stochrobust.sensitivity import APGD, BIM, CW, FGSM, PGD, AdamAscent, Protocol
        >>> all(issubclass(c, Solver) for c in (PGD, APGD, Protocol, AdamAscent, FGSM, BIM, CW))
        True
    """

    balls: ClassVar[tuple[str, ...]] = BALLS
    """The balls this solver supports."""

    default_box: ClassVar[tuple[float, float] | None] = None
    """The box used when the caller gives none (``CW`` needs one)."""

    def __call__(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        ball: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        norm: Any = _UNSET,
    ) -> torch.Tensor:
        """Return the best ``delta`` found: ``self.maximize(...).delta``.

        Args:
            objective: values to maximise, see :meth:`maximize`.
            y: centre of the ball ``(B, ...)``.
            eps: radius, a number or ``(B,)``.
            ball: ``"l2"``, ``"linf"`` or ``"l1"``.
            box: ``(lo, hi)`` on ``y + delta`` or ``None``.
            generator: random generator for the starts (``None``: torch's global one).
            norm: deprecated spelling of ``ball`` (0.1; warns).

        Returns:
            ``delta``, ``(B, ...)``, detached.

        Raises:
            RangeError, ShapeError, NonFiniteError, ModelError: see :meth:`maximize`.

        Examples:
            >>> from stochrobust.sensitivity import PGD
            >>> PGD()(lambda d: d.sum(1) ** 2, torch.zeros(1, 2), 1.0, ball="l1").abs().sum()
            tensor(1.)
        """
        ball = renamed_argument("norm", norm, "ball", ball, "l2")
        return self.maximize(objective, y, eps, ball=ball, box=box, generator=generator).delta

    def maximize(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        ball: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        validate_args: bool = True,
        norm: Any = _UNSET,
    ) -> Ascent:
        """Maximise ``objective`` over ``{delta : ‖delta‖ ≤ eps, y + delta ∈ box}``.

        Args:
            objective: ``objective(delta)`` → ``(B,)`` values to maximise, differentiable in
                ``delta``, or ``(values, aux)`` with ``aux`` a tensor of leading dim ``B``.
                Rows must be independent (row ``b`` of the values depends on row ``b`` of
                ``delta`` only).
            y: centre of the ball, ``(B, ...)``; finite.
            eps: radius, a number or a ``(B,)`` tensor, ``≥ 0``.
            ball: ``"l2"``, ``"linf"`` or ``"l1"`` (see :attr:`balls`).
            box: ``(lo, hi)`` constraint on ``y + delta`` or ``None``; ``y`` must lie inside.
            generator: random generator for the random starts (``None``: torch's global one).
            validate_args: check the arguments (a couple of host synchronisations). With
                ``False`` (callers that validated them already, as the sensitivity
                functions) ``y`` must be a tensor, ``eps`` a ``(B,)`` tensor on its device,
                ``ball`` a valid name and ``box`` ``None`` or a pair of floats.
            norm: deprecated spelling of ``ball`` (0.1; warns).

        Returns:
            :class:`Ascent` ``(delta, value, aux, diagnostics)``, all detached.

        Raises:
            NonFiniteError: ``y`` holds NaN/Inf, or the objective is not finite at any
                iterate of some sample.
            RangeError: a negative ``eps``, an unsupported ``ball``, ``lo > hi`` or ``y``
                outside the box.
            ShapeError: ``eps`` or the objective's output has the wrong shape.
            ModelError: the objective does not depend differentiably on ``delta`` (does not
                require grad, or its gradient is identically zero at the start).

        Shape:
            - ``y``, ``delta``: ``(B, *)``; ``eps``, ``value``: ``(B,)``.

        Examples:
            >>> from stochrobust.sensitivity import PGD
            >>> A = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
            >>> obj = lambda d: (d @ A.T).pow(2).sum(1)
            >>> best = PGD().maximize(obj, torch.zeros(1, 2), 1.0,
            ...                       generator=torch.Generator().manual_seed(0))
            >>> round(float(best.value[0]), 4)  # sigma_max(A)**2 * eps**2
            9.0
        """
        ball = renamed_argument("norm", norm, "ball", ball, "l2")
        box = self.default_box if box is None else box
        if validate_args:
            y, eps_t, ball, box = validate(y, eps, ball, box, generator)
        else:
            eps_t = torch.as_tensor(eps, dtype=y.dtype, device=y.device).reshape(-1)
            eps_t = eps_t.expand(y.shape[0]) if eps_t.numel() == 1 else eps_t
        if ball not in self.balls:
            raise RangeError(
                f"ball: expected one of {self.balls} for {type(self).__name__}, got {ball!r}"
            )
        problem = Problem(objective, y, eps_t, ball, box, self._random_start)
        start_values = self.search(problem, generator=generator)
        return problem.finish(start_values)

    @property
    def _random_start(self) -> bool:
        return bool(getattr(self, "random_start", True))

    @abc.abstractmethod
    def search(self, problem: Problem, *, generator: torch.Generator | None) -> torch.Tensor | None:
        """Run the whole search on ``problem`` (every evaluation goes through it).

        Args:
            problem: the :class:`~stochrobust.sensitivity.Problem`.
            generator: random generator for the starts.

        Returns:
            ``(starts, B)`` the best value of each start when the solver interleaves its
            starts (else ``None``: the Problem tracks each :meth:`Problem.start`).
        """

    @abc.abstractmethod
    def scaled(self, factor: float) -> Solver:
        """A copy of this solver whose budget (evaluations per input) is scaled by ``factor``.

        Args:
            factor: ``> 0``; ``1.0`` returns an equal copy.

        Returns:
            A new solver; this one is never modified.
        """


@dataclass
class RestartSolver(Solver):
    """Base of solvers that run ``restarts`` independent ascents and keep the best per sample.

    Subclasses implement one restart in :meth:`ascend`. The first restart draws exactly what
    a single run draws from ``generator``, so more restarts are never worse.

    Args:
        restarts: independent runs, best kept per sample (``≥ 1``).
        random_start: start uniformly in the ball instead of at ``delta = 0``.

    Raises:
        RangeError: ``restarts < 1``.

    References:
        [O23] App. E.2.3 (projection after each step); [O23] eq. 6 (zero gradient at
        ``delta = 0``, hence the random start).

    Examples:
        >>> from stochrobust.sensitivity import PGD, AdamAscent
        >>> issubclass(AdamAscent, RestartSolver), PGD(restarts=3).restarts
        (True, 3)
    """

    budget_count: ClassVar[str] = "steps"
    """The integer field :meth:`scaled` scales (``"steps"``; ``"restarts"`` for ``FGSM``)."""

    _: KW_ONLY
    restarts: int = 1
    random_start: bool = True

    def __post_init__(self) -> None:
        self.restarts = check_int(self.restarts, "restarts", minimum=1)
        self.random_start = bool(self.random_start)

    def search(self, problem: Problem, *, generator: torch.Generator | None) -> torch.Tensor | None:
        """Run :attr:`restarts` ascents, each from a fresh start, then :meth:`conclude`.

        Args:
            problem: the Problem.
            generator: random generator for the starts.

        Returns:
            ``None`` (the Problem tracks each start).
        """
        for _ in range(self.restarts):
            last = self.ascend(
                problem, problem.start(generator=generator, random=self.random_start)
            )
            self.conclude(problem, last)
        return None

    def conclude(self, problem: Problem, last: torch.Tensor) -> None:
        """Evaluate the last iterate of a restart (no gradient).

        Args:
            problem: the Problem.
            last: the last iterate :meth:`ascend` returned.
        """
        problem.evaluate(last)

    @abc.abstractmethod
    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """Run one restart from ``delta``; return the last (not yet evaluated) iterate.

        Args:
            problem: the Problem (evaluate through it).
            delta: the start.

        Returns:
            The last iterate.
        """

    def scaled(self, factor: float) -> RestartSolver:
        """A copy with its :attr:`budget_count` field scaled by ``factor`` (:func:`scale_count`).

        The other fields are kept (``restarts`` too, unless it is the budget count); a
        solver without that integer field is copied unchanged.

        Args:
            factor: ``> 0``.

        Returns:
            The scaled copy.

        Raises:
            RangeError: ``factor ≤ 0``.

        Examples:
            >>> from stochrobust.sensitivity import PGD
            >>> PGD(steps=20, restarts=3).scaled(0.25)
            PGD(restarts=3, random_start=True, steps=5, step_size=4.0, momentum=0.75, l1_topk=1,
            mirror=True)
        """
        count = getattr(self, self.budget_count, None)
        if not isinstance(count, int):
            check_positive(factor, "factor")
            return dataclasses.replace(self)
        changes: dict[str, Any] = {self.budget_count: scale_count(count, factor)}
        return dataclasses.replace(self, **changes)


def check_solver_type(solver: object, name: str = "solver") -> Solver:
    """Raise :class:`~stochrobust.StochRobustTypeError` unless ``solver`` is a Solver."""
    if not isinstance(solver, Solver):
        from stochrobust._checks import describe

        raise StochRobustTypeError(
            f"{name}: expected a stochrobust.sensitivity.Solver (Protocol, PGD, APGD, "
            f"AdamAscent, ...), got {describe(solver)}"
        )
    return solver
