"""The budgeted default attack: random starts, successive halving, APGD, best per sample.

The user states one budget — objective evaluations per input, or a named level — and the
:class:`Protocol` spends it as follows (all per sample, on the device):

1. ``starts`` random starts, uniform in the ball (then clipped to the box), each run for
   ``steps`` gradient evaluations of :func:`~stochrobust.sensitivity.apgd.apgd_run` (APGD,
   Croce & Hein 2020);
2. successive halving: the better half of the starts *of each sample* (by the best value
   each reached) continue with twice the steps, until two remain; the last two run the
   longest, so that the diagnostics can compare two fully-run starts;
3. the last iterate of each and its mirror ``−delta`` are evaluated; the best value over
   every evaluation is returned.

The plan for a budget ``E`` (evaluations per input): the most starts ``n`` (a power of two,
at least 2) whose first round still has ``≥ 5`` steps (``≥ 3`` on the L1 and L∞ balls),
with ``s = ⌊(E − 4) / (n·log₂ n)⌋`` steps in the first round (``n`` starts × ``s``,
``n/2`` × ``2s``, …, 2 × ``(n/2)s``), and the remainder added to the final round. See
:meth:`Protocol.plan`.

Named levels (evaluations per input): ``"fast"`` 24 (about the cost of 0.1's ``PGD()``,
22: for CI), ``"default"`` 100, ``"thorough"`` 400.

References:
    Croce & Hein, ICML 2020 (APGD; restarts reported with the budget used). Jamieson &
    Talwalkar, Non-stochastic best arm identification and hyperparameter optimization,
    AISTATS 2016 (successive halving).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from stochrobust._checks import RangeError, StochRobustTypeError, check_int, check_positive
from stochrobust.sensitivity._ascent import Problem
from stochrobust.sensitivity.apgd import APGDState, apgd_run
from stochrobust.sensitivity.solvers import Solver, scale_count

__all__ = ["LEVELS", "Protocol"]

LEVELS: dict[str, int] = {"fast": 24, "default": 100, "thorough": 400}
"""Named budgets: objective evaluations per input."""

_MIN_STEPS = 5
_MIN_STEPS_VERTEX = 3
_FINAL = 4  # the last iterate and its mirror, for the two finalists


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
        eta: APGD's initial step size in radii.
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
    eta: float = 2.0
    l1_topk: int = 1

    def __post_init__(self) -> None:
        _budget(self.budget)
        self.eta = check_positive(self.eta, "eta")
        self.l1_topk = check_int(self.l1_topk, "l1_topk", minimum=1)

    @property
    def evaluations(self) -> int:
        """The budget in objective evaluations per input."""
        return _budget(self.budget)

    def plan(self, ball: str = "l2") -> tuple[int, int, int]:
        """``(starts, first-round steps, extra steps of the final round)`` for the budget.

        Args:
            ball: the ball; on L1 and L∞ the first round needs only 3 steps (their
                steepest steps jump between vertices and settle in a few steps, and the
                optimum of a convex objective is one of many vertices: starts matter more).

        Returns:
            The plan (see the module docstring).

        Examples:
            >>> Protocol("fast").plan(), Protocol().plan(), Protocol("thorough").plan()
            ((2, 10, 0), (4, 12, 0), (16, 6, 6))
        """
        e = self.evaluations - _FINAL
        least = _MIN_STEPS_VERTEX if ball in ("l1", "linf") else _MIN_STEPS
        n = 2
        while (2 * n) * int(math.log2(2 * n)) * least <= e:
            n *= 2
        rounds = int(math.log2(n))
        s = e // (n * rounds)
        return n, s, (e - s * n * rounds) // 2

    def scaled(self, factor: float) -> Protocol:
        """A copy whose budget is scaled by ``factor`` (starts and steps follow the plan).

        Args:
            factor: ``> 0``.

        Returns:
            The scaled copy (budget at least 14).

        Raises:
            RangeError: ``factor ≤ 0``.

        Examples:
            >>> Protocol().scaled(4.0).plan()      # = Protocol("thorough")
            (16, 6, 6)
        """
        e = max(2 * _MIN_STEPS + _FINAL, scale_count(self.evaluations, factor))
        return replace(self) if e == self.evaluations else replace(self, budget=e)

    def search(self, problem: Problem, *, generator: torch.Generator | None) -> torch.Tensor:
        """Successive halving over APGD runs (see the module docstring).

        Args:
            problem: the Problem.
            generator: random generator for the starts.

        Returns:
            ``(starts, B)`` the best value each start reached.
        """
        n, steps, extra = self.plan(problem.ball)
        states = [APGDState.start(problem.start(generator=generator), self.eta) for _ in range(n)]
        ids = torch.arange(n, device=problem.y.device).unsqueeze(1).expand(n, problem.y.shape[0])
        values = torch.full((n, problem.y.shape[0]), float("-inf"), dtype=problem.y.dtype,
                            device=problem.y.device)  # fmt: skip
        while True:
            last = len(states) == 2
            run_steps = steps + (extra if last else 0)
            states = [apgd_run(problem, st, run_steps, l1_topk=self.l1_topk) for st in states]
            best = torch.stack([st.best_value for st in states])
            if last:
                for j, st in enumerate(states):
                    for d in (st.x, problem.project(-st.x)):
                        v = problem.evaluate(d)
                        best[j] = torch.maximum(best[j], v)
                values = values.scatter(0, ids, best)
                return values
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
        Protocol(budget='default', eta=2.0, l1_topk=1)
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
        >>> make_solver(budget="fast").plan()
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
