"""Sensitivity assertions for unit tests: bound eq. 6 and eq. 9 at given inputs.

Each assertion runs the attack of :func:`~stochrobust.sensitivity.sensitivity_at` and raises
:class:`AssertionError` with a report that a pytest failure shows as is: the offending
inputs (index and numbers), the found value against the bound, the radius and the AI-PSNR
it guarantees, the ball, the number of seeds, the solver (its ``repr``, budget scaled by the
session budget), the attack's convergence diagnostics and the generator. They are
deterministic by default: without a
``generator`` they use a CPU generator seeded with the session seed (``0`` unless
``pytest --stochrobust-seed`` says otherwise), so the same call gives the same verdict on
every run and every device.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023, eqs. 2, 6, 7, 9; App. E.2.3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NoReturn

import torch

from stochrobust._checks import check_generator, check_model_input, check_number, check_positive
from stochrobust._deprecate import _UNSET, renamed, renamed_argument
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.estimator import Estimator
from stochrobust.sensitivity.aggregate import RobustnessAggregator
from stochrobust.sensitivity.protocol import default_solver
from stochrobust.sensitivity.report import RobustnessReport
from stochrobust.sensitivity.sensitivity import SensitivityResult, sensitivity_at
from stochrobust.sensitivity.solvers import Solver, check_solver_type
from stochrobust.testing import _report as rp
from stochrobust.testing._report import HIDE_ASSERTION_FRAMES as _HIDE_ASSERTION_FRAMES
from stochrobust.testing.session import (
    current_budget,
    current_seed,
    current_solver,
    scaled_solver,
)

__all__ = ["assert_output_psnr_above", "assert_sensitivity_below", "default_generator"]

Model = Estimator | Callable[..., torch.Tensor]
AGGREGATES = ("each", "mean")


def default_generator() -> torch.Generator:
    """A CPU generator seeded with the session seed (``pytest --stochrobust-seed``, else 0).

    The assertions use it when they get ``generator=None``; a CPU generator works with
    inputs on any device (draws are moved), so the verdict is the same on CPU and GPU.

    Returns:
        A fresh, seeded :class:`torch.Generator`.

    Examples:
        >>> a, b = default_generator(), default_generator()
        >>> torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
        True
    """
    return torch.Generator().manual_seed(current_seed())


def _measure(
    model: object,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    ball: str,
    n_seeds: int,
    solver: Solver | None,
    generator: torch.Generator | None,
    box: tuple[float, float] | None,
    budget: float | None,
    data_range: float | None,
    aggregate: str,
) -> tuple[SensitivityResult, list[str]]:
    """Run the attack; return the result and the configuration lines of a report."""
    if aggregate not in AGGREGATES:
        raise RangeError(f"aggregate: expected one of {AGGREGATES}, got {aggregate!r}")
    check_model_input(y, "y", data_range if box is None else None)
    check_generator(generator)
    if solver is not None:
        check_solver_type(solver)
    if solver is None:
        solver = current_solver()
    base = default_solver(ball) if solver is None else solver
    used = scaled_solver(base, budget)
    gen = default_generator() if generator is None else generator
    seed_note = (
        f"default (seed {current_seed()}): the verdict is reproducible"
        if generator is None
        else "given by the caller"
    )
    res = sensitivity_at(
        model,  # type: ignore[arg-type]
        y,
        eps,
        ball=ball,
        n_seeds=n_seeds,
        solver=used,
        generator=gen,
        box=box,
        data_range=data_range,
    )
    stochastic = isinstance(model, Estimator) and model.is_stochastic
    seeds = f"n_seeds = {res.n_seeds}" + ("" if stochastic else " (deterministic estimator)")
    factor = current_budget() if budget is None else budget
    budget_note = "" if used == base else f" (scaled from {base!r} by the budget {factor:g})"
    lines = [
        "  " + rp.eps_line(res.eps, y.shape[1:], res.ball, data_range),
        f"  {seeds}, box = {box}",
        f"  solver = {res.solver}{budget_note}",
        f"  generator: {seed_note}",
    ]
    if res.diagnostics is not None:
        lines.append(f"  attack: {res.diagnostics.summary()}")
    return res, lines


def _batch_means(res: SensitivityResult) -> RobustnessReport:
    """The batch's eq. 7 / eq. 3 / eq. 9 means, by the aggregator of ``robustness``."""
    agg = RobustnessAggregator()
    agg.update(res)
    return agg.value()


def _check_bound(max_value: object, max_norm: object) -> tuple[str, float]:
    if (max_value is None) == (max_norm is None):
        got = "both" if max_value is not None else "neither"
        raise StochRobustTypeError(
            f"max_value, max_norm: expected exactly one bound (max_value on the squared eq. 6 "
            f"value, or max_norm on its square root), got {got}"
        )
    if max_value is not None:
        return "max_value", check_positive(max_value, "max_value", allow_zero=True)
    return "max_norm", check_positive(max_norm, "max_norm", allow_zero=True)


def _row(res: SensitivityResult, i: int, eps_varies: bool) -> str:
    eps = f" | eps {rp.num(float(res.eps[i]))}" if eps_varies else ""
    return (
        f"    [{i}] {rp.num(float(res.value[i]))} | {rp.num(float(res.root[i]))} | "
        f"{rp.db(float(res.input_psnr[i]))} | {rp.db(float(res.output_psnr[i]))}{eps}"
    )


def _rows(res: SensitivityResult, order: list[int], what: str) -> list[str]:
    eps_varies = bool((res.eps != res.eps[0]).any())
    head = "    [index] eq. 6 value (squared) | its sqrt | AI-PSNR at the maximiser | eq. 9 PSNR"
    shown = order[: rp.SHOWN]
    return [head + (" | eps" if eps_varies else "")] + [
        _row(res, i, eps_varies) for i in shown
    ] + rp.more_line(len(order), len(shown), what)  # fmt: skip


def _offenders(
    measured: torch.Tensor, failing: torch.Tensor, mean_holds: bool | None, *, largest: bool
) -> list[int] | None:
    """The inputs a failure report lists, worst first, or ``None`` when the assertion holds.

    ``mean_holds`` is ``None`` for ``aggregate="each"`` (the assertion fails at the
    ``failing`` inputs), else whether the batch mean satisfies the bound (if not, every
    input is listed).
    """
    if mean_holds is None:
        return rp.worst_first(measured, failing, largest=largest) or None
    if mean_holds:
        return None
    return rp.worst_first(measured, torch.ones_like(failing), largest=largest)


def _fail(
    head: str, res: SensitivityResult, order: list[int], what: str, worst: str, config: list[str]
) -> NoReturn:
    """Raise the assertion's report: the headline, the worst inputs, the worst figure."""
    __tracebackhide__ = _HIDE_ASSERTION_FRAMES
    lines = [head, "  worst inputs:", *_rows(res, order, what), worst]
    raise AssertionError("\n".join(lines + config))


@renamed(model_or_estimator="estimator", inputs="y")
def assert_sensitivity_below(
    estimator: Model,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    max_value: float | None = None,
    *,
    max_norm: float | None = None,
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    ball: str = "l2",
    budget: float | None = None,
    aggregate: Literal["each", "mean"] = "each",
    data_range: float | None = 1.0,
    norm: Any = _UNSET,
) -> SensitivityResult:
    """Assert that the same-seed sensitivity ([O23] eq. 6) stays below a bound.

    Runs :func:`~stochrobust.sensitivity.sensitivity_at` and compares its ``value``
    (``max_{‖δ‖≤ε} E_Z‖G(y,Z) − G(y+δ,Z)‖²``, **squared**; eq. 2 squared for a deterministic
    model) with ``max_value``, or its square root ``root`` (eq. 2 itself for a deterministic
    model) with ``max_norm``. Pass exactly one of the two. The attack is a lower bound on
    the true maximum: a pass means "no perturbation found", a failure is a certificate (the
    perturbation exists).

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: the inputs, ``(B, *in_shape)``.
        eps: the radius, a number or a ``(B,)`` tensor (see
            :func:`~stochrobust.sensitivity.eps_for_psnr` to derive it from an AI-PSNR).
        max_value: bound on the eq. 6 value (squared).
        max_norm: bound on its square root.
        n_seeds: seeds per input (stochastic estimators; the paper uses 10).
        solver: the attack (default :func:`~stochrobust.sensitivity.default_solver`); its
            steps are scaled by ``budget``.
        generator: random generator; ``None`` uses :func:`default_generator`
            (deterministic).
        box: ``(lo, hi)`` constraint on ``y + δ``, e.g. ``(0, 1)``, or ``None``.
        ball: the ball, ``"l2"``, ``"linf"`` or ``"l1"``.
        budget: factor on the solver's budget (:meth:`~stochrobust.sensitivity.Solver.scaled`:
            the default protocol's evaluations per input, a PGD's steps); ``None`` uses the
            session budget
            (``pytest --stochrobust-budget``, else 1).
        aggregate: ``"each"`` — every input must satisfy the bound (the worst case);
            ``"mean"`` — the batch mean must (eq. 7 for ``max_value``, eq. 3 for
            ``max_norm``).
        data_range: peak value of the inputs, for the AI-PSNR and eq. 9; the inputs are
            validated against ``[0, data_range]`` (``None``: not images, no check, no PSNR).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        The :class:`~stochrobust.sensitivity.SensitivityResult` (e.g. to log it).

    Raises:
        AssertionError: the bound is exceeded; the message lists the worst inputs.
        StochRobustTypeError: none or both of ``max_value`` and ``max_norm``; a wrong
            argument type.
        RangeError, ShapeError, NonFiniteError, ModelError: as
            :func:`~stochrobust.sensitivity.sensitivity_at`.

    Shape:
        - ``y``: ``(B, *in_shape)``; result tensors: ``(B,)``.

    References:
        [O23] eqs. 2, 6, 7 and Table 3 (which reports ``sqrt(R̃)``).

    Examples:
        >>> y = torch.rand(4, 1, 8, 8)
        >>> res = assert_sensitivity_below(lambda y: 0.5 * y, y, 0.1, max_norm=0.051)
        >>> round(float(res.root.max()), 3)     # eq. 2 = 0.5 * eps
        0.05
        >>> assert_sensitivity_below(lambda y: 2 * y, y, 0.1, max_value=0.01)
        Traceback (most recent call last):
        ...
        AssertionError: stochrobust: same-seed sensitivity (eq. 6 value, squared) above ...
        ...
    """
    __tracebackhide__ = _HIDE_ASSERTION_FRAMES
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    kind, bound = _check_bound(max_value, max_norm)
    res, config = _measure(
        estimator, y, eps, ball=ball, n_seeds=n_seeds, solver=solver,
        generator=generator, box=box, budget=budget, data_range=data_range,
        aggregate=aggregate,
    )  # fmt: skip
    measured = res.value if kind == "max_value" else res.root
    what = "eq. 6 value, squared" if kind == "max_value" else "sqrt of the eq. 6 value"
    mean = None
    if aggregate == "mean":
        means = _batch_means(res)
        mean = means.r_tilde if kind == "max_value" else means.r
    holds = None if mean is None else mean <= bound
    order = _offenders(measured, measured > bound, holds, largest=True)
    if order is None:
        return res
    if mean is not None:
        eq = "eq. 7" if kind == "max_value" else "eq. 3 (mean of the norms)"
        head = (
            f"stochrobust: mean same-seed sensitivity over {measured.numel()} inputs ({eq}) "
            f"above {kind} = {rp.num(bound)}"
        )
        worst = f"  mean {rp.num(mean)} vs bound {rp.num(bound)}{rp.ratio(mean, bound)}"
    else:
        found = float(measured[order[0]])
        head = (
            f"stochrobust: same-seed sensitivity ({what}) above {kind} = {rp.num(bound)} "
            f"at {len(order)} of {measured.numel()} inputs"
        )
        worst = (
            f"  found max {rp.num(found)} at input {order[0]} vs bound "
            f"{rp.num(bound)}{rp.ratio(found, bound)}"
        )
    _fail(head, res, order, "inputs above the bound", worst, config)


@renamed(model_or_estimator="estimator", inputs="y")
def assert_output_psnr_above(
    estimator: Model,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    min_psnr_db: float,
    *,
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    ball: str = "l2",
    budget: float | None = None,
    aggregate: Literal["each", "mean"] = "each",
    data_range: float | None = 1.0,
    norm: Any = _UNSET,
) -> SensitivityResult:
    """Assert that the PSNR robustness ([O23] eq. 9) stays above ``min_psnr_db``.

    Eq. 9 is ``PSNR(G(y, z), G(y + δ, z))`` averaged over the seeds, at the maximiser ``δ``
    of eq. 6 found by :func:`~stochrobust.sensitivity.sensitivity_at` (higher is more
    robust; ``inf`` where the outputs do not move).

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: the inputs, ``(B, *in_shape)``.
        eps: the radius, a number or a ``(B,)`` tensor.
        min_psnr_db: the lowest acceptable output PSNR in dB.
        n_seeds: seeds per input (stochastic estimators).
        solver: the attack (default :func:`~stochrobust.sensitivity.default_solver`); its
            steps are scaled by ``budget``.
        generator: random generator; ``None`` uses :func:`default_generator`.
        box: ``(lo, hi)`` constraint on ``y + δ`` or ``None``.
        ball: the ball.
        budget: factor on the solver's budget (``None``: the session budget).
        aggregate: ``"each"`` (every input) or ``"mean"`` (the batch mean, eq. 9's
            expectation over ``Y``).
        data_range: peak value of inputs and outputs (validated as for
            :func:`assert_sensitivity_below`).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        The :class:`~stochrobust.sensitivity.SensitivityResult`.

    Raises:
        AssertionError: some PSNR (or the mean) is below ``min_psnr_db``.
        RangeError, ShapeError, NonFiniteError, ModelError, StochRobustTypeError: as
            :func:`~stochrobust.sensitivity.sensitivity_at`.

    Shape:
        - ``y``: ``(B, *in_shape)``; result tensors: ``(B,)``.

    References:
        [O23] eq. 9 and §6.1.1.

    Examples:
        >>> y = torch.rand(2, 3, 8, 8)
        >>> res = assert_output_psnr_above(lambda y: 0.1 * y, y, 0.2, min_psnr_db=40.0)
        >>> bool((res.output_psnr > 40.0).all())
        True
    """
    __tracebackhide__ = _HIDE_ASSERTION_FRAMES
    bound = check_number(min_psnr_db, "min_psnr_db")
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    res, config = _measure(
        estimator, y, eps, ball=ball, n_seeds=n_seeds, solver=solver,
        generator=generator, box=box, budget=budget, data_range=data_range,
        aggregate=aggregate,
    )  # fmt: skip
    psnrs = res.output_psnr
    mean = _batch_means(res).mean_output_psnr if aggregate == "mean" else None
    holds = None if mean is None else mean >= bound
    order = _offenders(psnrs, psnrs < bound, holds, largest=False)
    if order is None:
        return res
    if mean is not None:
        head = (
            f"stochrobust: mean eq. 9 output PSNR over {psnrs.numel()} inputs below "
            f"min_psnr_db = {rp.db(bound)}"
        )
        worst = f"  mean {rp.db(mean)} vs bound {rp.db(bound)}"
    else:
        head = (
            f"stochrobust: eq. 9 output PSNR below min_psnr_db = {rp.db(bound)} at "
            f"{len(order)} of {psnrs.numel()} inputs"
        )
        worst = (
            f"  found min {rp.db(float(psnrs[order[0]]))} at input {order[0]} vs bound "
            f"{rp.db(bound)}"
        )
    _fail(head, res, order, "inputs below the bound", worst, config)
