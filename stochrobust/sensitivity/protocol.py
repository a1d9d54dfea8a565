"""The budgeted default attack: random starts, successive halving, APGD, best per sample.

The user states one budget — objective evaluations per input, or a named level — and the
:class:`Protocol` spends it as follows (all per sample, on the device):

1. ``starts`` random starts, uniform in the ball (then clipped to the box), each run for
   ``steps`` gradient evaluations of :func:`~stochrobust.sensitivity.apgd.apgd_run` (APGD,
   Croce & Hein 2020, with a large initial step: ``eta = 10`` radii);
2. successive halving: the better half of the starts *of each sample* (by the best value
   each reached) continue with twice the steps, until two remain; the last two run the
   longest, so that the diagnostics can compare two fully-run starts;
3. the last iterate of each and its mirror ``−delta`` are evaluated; the best value over
   every evaluation is returned.

On the polytope balls gradient ascent stops at *a* vertex, and the worst case of a
convex objective (the sensitivity objectives near ``delta = 0``) is one of many vertices,
so part of the budget goes to vertex steps:

- **L1**: after the first round, the ``vertices`` coordinates with the most gradient energy
  (the sum of ``g²/‖g‖²`` over every gradient of the first round: an estimate of the
  Jacobian's column norms) are screened: ``±ε e_j`` is evaluated for each (the best vertex
  is one more start of the diagnostics). ``vertices`` is 60 % of the budget, at most one
  per coordinate.
- **L∞**: when the final round has at least one evaluation per coordinate, the rounds after
  the first run a 1-flip local search instead of APGD (the flips ``x_j → −x_j`` of the
  coordinates with the smallest first-order loss ``x_j g_j``, four per step, each evaluated
  with its gradient; the best improving flip is kept). On inputs with more coordinates
  (images) every round runs APGD.

The plan for a budget ``E`` (evaluations per input): ``E − 4`` less the L1 vertices is
split into the most starts ``n`` (a power of two, at least 2) whose first round still has
``≥ 5`` steps (``≥ 3`` on the L1 and L∞ balls), with ``s = ⌊E' / (n·log₂ n)⌋`` steps in
the first round (``n`` starts × ``s``, ``n/2`` × ``2s``, …, 2 × ``(n/2)s``), and the
remainder added to the final round. See :meth:`Protocol.plan`.

Named levels (evaluations per input): ``"fast"`` 24 (about the cost of 0.1's ``PGD()``,
22: for CI), ``"default"`` 100, ``"thorough"`` 400.

References:
    Croce & Hein, ICML 2020 (APGD; restarts reported with the budget used). Jamieson &
    Talwalkar, Non-stochastic best arm identification and hyperparameter optimization,
    AISTATS 2016 (successive halving). Croce & Hein, Mind the box, ICML 2021 (L1 attacks
    are sparse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, NamedTuple

import torch

from stochrobust._checks import check_int, check_positive
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.sensitivity._ascent import Problem
from stochrobust.sensitivity._vertex import Energy, flip, screen
from stochrobust.sensitivity.apgd import APGDState, apgd_run
from stochrobust.sensitivity.solvers import Solver, scale_count

__all__ = ["LEVELS", "Plan", "Protocol"]

LEVELS: dict[str, int] = {"fast": 24, "default": 100, "thorough": 400}
"""Named budgets: objective evaluations per input."""

_MIN_STEPS = 5
_MIN_STEPS_VERTEX = 3
_FINAL = 4  # the last iterate and its mirror, for the two finalists
_L1_SHARE = 0.6  # of the budget, for the L1 vertex screening
_FLIP_WIDTH = 4  # flips evaluated per step of the L∞ search


def _budget(budget: object) -> int:
    if isinstance(budget, str):
        if budget not in LEVELS:
            raise RangeError(
                f"budget: expected one of {tuple(LEVELS)} or an integer, got {budget!r}"
            )
        return LEVELS[budget]
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise StochRobustTypeError(
            f"budget: expected an integer (evaluations per input) or one of {tuple(LEVELS)}, "
            f"got {budget!r}"
        )
    return check_int(budget, "budget", minimum=2 * _MIN_STEPS + _FINAL)


class Plan(NamedTuple):
    """How a :class:`Protocol` spends its budget (evaluations per input).

    Attributes:
        starts: random starts of the first round (a power of two, at least 2).
        steps: APGD steps per start in the first round (doubling each round).
        extra: steps added to each of the two finalists' last round.
        vertices: evaluations of the L1 vertex screening (0 on the other balls).
        flips: whether the rounds after the first run the L∞ 1-flip search.
    """

    starts: int
    steps: int
    extra: int
    vertices: int
    flips: bool


def _gather(stack: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``stack[idx[j, b], b]`` for a stack ``(n, B, ...)`` and indices ``(k, B)``."""
    view = idx.reshape(*idx.shape, *([1] * (stack.ndim - 2))).expand(-1, -1, *stack.shape[2:])
    return stack.gather(0, view)


@dataclass
class Protocol(Solver):
    """The default worst-case search: budgeted random starts + successive halving over APGD.

    Args:
        budget: objective evaluations per input (an integer ``≥ 14``) or a named level
            ``"fast"`` (24), ``"default"`` (100), ``"thorough"`` (400).
        eta: APGD's initial step size in radii (large: the sensitivity objectives peak on
            the sphere, where a long step followed by the projection is a power-iteration
            step; the checkpoints halve it where the objective peaks inside the ball).
        l1_topk: coordinates moved per L1 step.

    Raises:
        RangeError: an unknown level or a budget below 14.
        StochRobustTypeError: a budget that is neither an integer nor a level name.

    References:
        Croce & Hein, ICML 2020 (APGD, restarts); Jamieson & Talwalkar, AISTATS 2016
        (successive halving).

    Examples:
        >>> A = torch.tensor([[3.0, 1.0], [0.0, 1.0]])
        >>> best = Protocol("fast").maximize(lambda d: (d @ A.T).pow(2).sum(1),
        ...                                  torch.zeros(2, 2), 1.0,
        ...                                  generator=torch.Generator().manual_seed(0))
        >>> s = torch.linalg.matrix_norm(A, ord=2) ** 2    # closed form: eps² σ_max(A)²
        >>> bool(torch.allclose(best.value, s.expand(2), rtol=1e-5))
        True
        >>> best.diagnostics.evaluations, best.diagnostics.converged.tolist()
        (24, [True, True])
    """

    levels: ClassVar[dict[str, int]] = LEVELS

    budget: int | str = "default"
    eta: float = 10.0
    l1_topk: int = 1

    def __post_init__(self) -> None:
        _budget(self.budget)
        self.eta = check_positive(self.eta, "eta")
        self.l1_topk = check_int(self.l1_topk, "l1_topk", minimum=1)

    @property
    def evaluations(self) -> int:
        """The budget in objective evaluations per input."""
        return _budget(self.budget)

    def plan(self, ball: str = "l2", size: int | None = None) -> Plan:
        """How the budget is spent on ``ball`` for inputs of ``size`` coordinates.

        Args:
            ball: on L1 and L∞ the first round needs only 3 steps (their steepest steps
                jump between vertices and settle in a few steps: starts matter more), and
                the vertex steps of the module docstring are planned.
            size: coordinates per input (``None``: unknown, taken as large).

        Returns:
            The :class:`Plan` (see the module docstring).

        Examples:
            >>> Protocol("fast").plan(), Protocol().plan(), Protocol("thorough").plan()
            ... # doctest: +NORMALIZE_WHITESPACE
            (Plan(starts=2, steps=10, extra=0, vertices=0, flips=False),
             Plan(starts=4, steps=12, extra=0, vertices=0, flips=False),
             Plan(starts=16, steps=6, extra=6, vertices=0, flips=False))
            >>> Protocol().plan("l1"), Protocol().plan("linf", size=12)
            ... # doctest: +NORMALIZE_WHITESPACE
            (Plan(starts=4, steps=4, extra=3, vertices=57, flips=False),
             Plan(starts=8, steps=4, extra=0, vertices=0, flips=True))
        """
        e = self.evaluations - _FINAL
        polytope = ball in ("l1", "linf")
        least = _MIN_STEPS_VERTEX if polytope else _MIN_STEPS
        vertices = 0
        if ball == "l1":
            vertices = min(int(_L1_SHARE * e), e - 2 * least, size or e)
        e -= vertices
        n = 2
        while (2 * n) * int(math.log2(2 * n)) * least <= e:
            n *= 2
        rounds = int(math.log2(n))
        s = e // (n * rounds)
        extra = (e - s * n * rounds) // 2
        last = s * n // 2 + extra  # evaluations of each finalist's last round
        flips = ball == "linf" and size is not None and last >= size
        return Plan(n, s, extra, vertices, flips)

    def scaled(self, factor: float) -> Protocol:
        """A copy whose budget is scaled by ``factor`` (starts and steps follow the plan).

        Args:
            factor: ``> 0``.

        Returns:
            The scaled copy (budget at least 14).

        Raises:
            RangeError: ``factor ≤ 0``.

        Examples:
            >>> Protocol().scaled(4.0).plan()[:3]      # = Protocol("thorough")
            (16, 6, 6)
        """
        e = max(2 * _MIN_STEPS + _FINAL, scale_count(self.evaluations, factor))
        return replace(self) if e == self.evaluations else replace(self, budget=e)

    def search(self, problem: Problem, *, generator: torch.Generator | None) -> torch.Tensor:
        """Successive halving over APGD runs, with the vertex steps (see the module docstring).

        Args:
            problem: the Problem.
            generator: random generator for the starts.

        Returns:
            ``(starts, B)`` the best value each start reached (on L1 the screened vertex is
            one more start).
        """
        plan = self.plan(problem.ball, problem.y[0].numel())
        n, steps = plan.starts, plan.steps
        batch, device = problem.y.shape[0], problem.y.device
        energy = Energy() if problem.ball == "l1" and plan.vertices else None
        states = [APGDState.start(problem.start(generator=generator), self.eta) for _ in range(n)]
        ids = torch.arange(n, device=device).unsqueeze(1).expand(n, batch)
        values = torch.full((n + (energy is not None), batch), float("-inf"),
                            dtype=problem.y.dtype, device=device)  # fmt: skip
        first = True
        while True:
            last = len(states) == 2
            run_steps = steps + (plan.extra if last else 0)
            if plan.flips and not first:
                states = [_flip_run(problem, st, run_steps) for st in states]
            else:
                states = [
                    apgd_run(problem, st, run_steps, l1_topk=self.l1_topk, observe=energy)
                    for st in states
                ]
            first = False
            best = torch.stack([st.best_value for st in states])
            if energy is not None:
                values[n] = screen(problem, energy, plan.vertices)
                energy = None
            if last:
                for j, st in enumerate(states):
                    for d in (st.x, problem.project(-st.x)):
                        best[j] = torch.maximum(best[j], problem.evaluate(d))
                return values.scatter(0, ids, best)
            values = values.scatter(0, ids, best)
            keep = len(states) // 2
            order = best.topk(keep, dim=0).indices  # (keep, B), per sample
            ids = ids.gather(0, order)
            stacked = [torch.stack(field) for field in zip(*(st[:7] for st in states), strict=True)]
            states = []
            for j in range(keep):
                g = [_gather(t, order[j : j + 1]).squeeze(0) for t in stacked]
                states.append(APGDState(g[0], g[1], g[2], g[3], g[4], g[5], g[6], False))
            steps *= 2


def _flip_run(problem: Problem, state: APGDState, evaluations: int) -> APGDState:
    """Continue a run by ``evaluations`` flips of the L∞ 1-flip search from its best point."""
    width = min(_FLIP_WIDTH, problem.y[0].numel())
    v, x, g = state.best_value, state.best_x, state.best_grad
    for rounds, w in ((evaluations // width, width), (1, evaluations % width)):
        if w:
            v, x, g = flip(problem, x, g, v, rounds, w)
    return APGDState(x, x, x, g, v, v, state.eta, False)


def default_solver(ball: str = "l2", *, budget: int | str = "default") -> Solver:
    """The solver every entry point uses when none is given: ``Protocol(budget)``.

    The same protocol for every ball (0.1 used ``PGD()``, and ``PGD(steps=10,
    restarts=10)`` on L1).

    Args:
        ball: ``"l2"``, ``"linf"`` or ``"l1"`` (validated; the protocol supports all).
        budget: evaluations per input or a level name (see :data:`LEVELS`).

    Returns:
        A fresh :class:`Protocol`.

    Raises:
        RangeError: unknown ``ball`` or budget level.

    Examples:
        >>> default_solver("l1")
        Protocol(budget='default', eta=10.0, l1_topk=1)
    """
    from stochrobust.sensitivity.projections import check_ball

    check_ball(ball)
    return Protocol(budget)


SOLVER_NAMES = ("protocol", "apgd", "pgd", "adam", "fgsm", "bim", "cw")
"""Names accepted by :func:`make_solver` (and the ``--solver`` options)."""


def make_solver(
    name: str = "protocol",
    *,
    budget: int | str | None = None,
    steps: int | None = None,
    restarts: int | None = None,
) -> Solver:
    """Build a solver from a name and its budget (the ``--solver`` / ``--budget`` options).

    ``"protocol"`` takes ``budget`` (evaluations per input or a level; default
    ``"default"``); the others take ``steps`` and ``restarts`` (their own defaults when
    ``None``); ``"adam"`` is the [O23] App. E.2.3 preset.

    Args:
        name: one of :data:`SOLVER_NAMES`.
        budget: the protocol's budget.
        steps: steps per restart (not for ``"protocol"``, not for ``"fgsm"``).
        restarts: independent restarts (not for ``"protocol"``).

    Returns:
        The solver.

    Raises:
        RangeError: an unknown name, or an option the solver does not take.

    References:
        [O23] App. E.2.3 (the Adam preset); Croce & Hein, ICML 2020 (APGD).

    Examples:
        >>> make_solver("pgd", steps=40, restarts=4)
        PGD(restarts=4, random_start=True, steps=40, step_size=4.0, momentum=0.75, l1_topk=1,
        mirror=True)
        >>> make_solver(budget="fast").plan()[:3]
        (2, 10, 0)
    """
    from stochrobust.sensitivity.adaptive import CW, AdamAscent
    from stochrobust.sensitivity.apgd import APGD
    from stochrobust.sensitivity.pgd import BIM, FGSM, PGD

    if name not in SOLVER_NAMES:
        raise RangeError(f"name: expected one of {SOLVER_NAMES}, got {name!r}")
    if name == "protocol":
        if steps is not None or restarts is not None:
            raise RangeError(
                "steps: expected None for the protocol (it takes a budget; use --solver pgd "
                f"or apgd for fixed steps/restarts), got steps={steps}, restarts={restarts}"
            )
        return Protocol("default" if budget is None else budget)
    if budget is not None:
        raise RangeError(
            f"budget: expected None for solver {name!r} (give steps/restarts), got {budget!r}"
        )
    if name == "fgsm" and steps is not None:
        raise RangeError(f"steps: expected None for fgsm (one step by definition), got {steps}")
    kinds: dict[str, type[Solver]] = {
        "apgd": APGD, "pgd": PGD, "fgsm": FGSM, "bim": BIM, "cw": CW
    }  # fmt: skip
    base = AdamAscent.paper_natural_images() if name == "adam" else kinds[name]()
    changes: dict[str, int] = {}
    if steps is not None:
        changes["steps"] = check_int(steps, "steps", minimum=1)
    if restarts is not None:
        changes["restarts"] = check_int(restarts, "restarts", minimum=1)
    return replace(base, **changes)  # type: ignore[type-var]
