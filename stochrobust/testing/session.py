"""Session settings of the testing helpers: the CI budget and the default seed.

A sensitivity test is only as strong as its attack, and an attack costs one forward and
backward pass per step. ``pytest --stochrobust-budget 0.25`` (the pytest plugin) sets the
session budget; every assertion of :mod:`stochrobust.testing` then runs its solver with a
quarter of the steps (at least one), and ``--stochrobust-budget 4`` runs a four times
stronger attack, e.g. in a nightly job. ``--stochrobust-seed`` sets the seed of the
generator the assertions use when they get none, so a verdict is reproducible run after
run. Outside pytest the budget is ``1.0`` and the seed ``0``.

This module imports nothing heavy: the plugin imports it in every pytest session.

References:
    [O23] App. E.2.3 (the paper's attack: 5 Adam steps); Croce & Hein, ICML 2020 (APGD).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust.sensitivity.solvers import Solver

__all__ = [
    "DEFAULT_SEED",
    "current_budget",
    "current_seed",
    "current_solver",
    "scaled_solver",
    "scaled_steps",
    "set_budget",
    "set_seed",
    "set_solver",
]

DEFAULT_SEED = 0
"""The seed of the default generator outside pytest (and without ``--stochrobust-seed``)."""

_state: dict[str, Any] = {"budget": 1.0, "seed": DEFAULT_SEED, "solver": None}


def _check_budget(budget: object) -> float:
    from stochrobust._checks import check_positive

    return check_positive(budget, "budget")


def current_budget() -> float:
    """The session budget: ``--stochrobust-budget`` under pytest, else ``1.0``.

    Returns:
        The factor the assertions apply to their solver's steps when they get no ``budget``.

    Examples:
        >>> isinstance(current_budget(), float)
        True
    """
    return float(_state["budget"])


def current_seed() -> int:
    """The session seed: ``--stochrobust-seed`` under pytest, else :data:`DEFAULT_SEED`.

    Returns:
        The seed of the generator the assertions use when they get ``generator=None``.

    Examples:
        >>> isinstance(current_seed(), int)
        True
    """
    return int(_state["seed"])


def set_budget(budget: float) -> float:
    """Set the session budget; returns the previous one (the plugin restores it at exit).

    Args:
        budget: the factor, ``> 0`` (``1.0``: the solvers as configured).

    Returns:
        The previous budget.

    Raises:
        RangeError: ``budget ≤ 0``.
        NonFiniteError: ``budget`` is not finite.

    Examples:
        >>> previous = set_budget(0.5)
        >>> current_budget()
        0.5
        >>> _ = set_budget(previous)
    """
    value = _check_budget(budget)
    previous = current_budget()
    _state["budget"] = value
    return previous


def set_seed(seed: int) -> int:
    """Set the session seed; returns the previous one.

    Args:
        seed: a non-negative integer.

    Returns:
        The previous seed.

    Raises:
        StochRobustTypeError: ``seed`` is not an integer.
        RangeError: ``seed < 0``.

    Examples:
        >>> previous = set_seed(7)
        >>> current_seed()
        7
        >>> _ = set_seed(previous)
    """
    from stochrobust._checks import check_int

    value = check_int(seed, "seed", minimum=0)
    previous = current_seed()
    _state["seed"] = value
    return previous


def scaled_steps(steps: int, budget: float) -> int:
    """``max(1, round(steps · budget))`` (halves rounded up).

    Args:
        steps: the configured step count (``≥ 1``).
        budget: the factor, ``> 0``.

    Returns:
        The scaled step count.

    Raises:
        RangeError: ``steps < 1`` or ``budget ≤ 0``.

    Examples:
        >>> scaled_steps(20, 0.25), scaled_steps(5, 0.1), scaled_steps(5, 0.5), scaled_steps(5, 3.0)
        (5, 1, 3, 15)
    """
    from stochrobust._checks import check_int
    from stochrobust.sensitivity.solvers import scale_count

    return scale_count(check_int(steps, "steps", minimum=1), _check_budget(budget))


def scaled_solver(solver: Solver, budget: float | None = None) -> Solver:
    """``solver.scaled(budget)``: a copy with its budget scaled (the session budget if ``None``).

    Each solver scales itself (:meth:`~stochrobust.sensitivity.Solver.scaled`): the default
    :class:`~stochrobust.sensitivity.Protocol` scales its evaluations per input, which
    re-plans both its starts and its steps; :class:`~stochrobust.sensitivity.PGD`,
    :class:`~stochrobust.sensitivity.APGD`, :class:`~stochrobust.sensitivity.AdamAscent`,
    :class:`~stochrobust.sensitivity.CW` and :class:`~stochrobust.sensitivity.BIM` (whose
    ``α = ε / steps`` follows) scale their steps, :class:`~stochrobust.sensitivity.FGSM`
    its restarts. With budget ``1.0`` the copy equals the original; the argument is never
    modified.

    Args:
        solver: a :class:`~stochrobust.sensitivity.Solver`.
        budget: the factor, ``> 0``; ``None`` uses :func:`current_budget`.

    Returns:
        The scaled copy.

    Raises:
        StochRobustTypeError: ``solver`` is not a Solver.
        RangeError: ``budget ≤ 0``.

    References:
        [O23] App. E.2.3 (5 Adam steps); Croce & Hein, ICML 2020 (budgets of APGD).

    Examples:
        >>> from stochrobust.sensitivity import PGD, BIM, Protocol
        >>> scaled_solver(PGD(steps=20), 0.25).steps
        5
        >>> scaled_solver(BIM(steps=10), 0.5).step_size   # alpha = eps / 5
        0.2
        >>> Protocol().plan()[:3], scaled_solver(Protocol(), 4.0).plan()[:3]  # starts, steps
        ((4, 12, 0), (16, 6, 6))
    """
    from stochrobust.sensitivity.solvers import check_solver_type

    s = check_solver_type(solver)
    b = current_budget() if budget is None else _check_budget(budget)
    return s.scaled(b)


def current_solver() -> Solver | None:
    """The session solver (``--stochrobust-solver`` and friends), or ``None`` for the default.

    Returns:
        A fresh solver built by :func:`~stochrobust.sensitivity.make_solver`, or ``None``
        (the assertions then use :func:`~stochrobust.sensitivity.default_solver`).

    Examples:
        >>> current_solver() is None     # outside pytest, or without --stochrobust-solver
        True
    """
    spec = _state["solver"]
    if spec is None:
        return None
    from stochrobust.sensitivity.protocol import make_solver

    return make_solver(**spec)


def set_solver(
    name: str | None,
    *,
    budget: int | str | None = None,
    steps: int | None = None,
    restarts: int | None = None,
) -> dict[str, object] | None:
    """Set the session solver (``None``: the default protocol); returns the previous spec.

    Args:
        name: a name of :data:`~stochrobust.sensitivity.SOLVER_NAMES`, or ``None``.
        budget: the protocol's budget (evaluations per input or a level name).
        steps: steps per restart of the other solvers.
        restarts: restarts of the other solvers.

    Returns:
        The previous spec (a dict of the arguments of ``make_solver``) or ``None``.

    Raises:
        RangeError: an unknown name or an option the solver does not take (checked by
            building it once).

    Examples:
        >>> previous = set_solver("pgd", steps=40, restarts=4)
        >>> current_solver()
        PGD(restarts=4, random_start=True, steps=40, step_size=4.0, momentum=0.75, l1_topk=1,
        mirror=True)
        >>> _ = set_solver(None)
    """
    previous = _state["solver"]
    spec: dict[str, object] | None = None
    if name is not None:
        spec = {"name": name, "budget": budget, "steps": steps, "restarts": restarts}
        from stochrobust.sensitivity.protocol import make_solver

        make_solver(**spec)  # type: ignore[arg-type]  # validate now
    _state["solver"] = spec
    return previous  # type: ignore[no-any-return]
