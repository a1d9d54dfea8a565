from __future__ import annotations

import math

import pytest

import stochrobust.testing as srt
from stochrobust import NonFiniteError, RangeError, StochRobustTypeError
from stochrobust.sensitivity import BIM, CW, FGSM, PGD, AdamAscent, Solver
from stochrobust.testing.session import (
    current_budget,
    current_seed,
    scaled_solver,
    scaled_steps,
    set_budget,
    set_seed,
)


@pytest.mark.parametrize(
    ("steps", "budget", "expected"),
    [
        (20, 1.0, 20),
        (20, 0.25, 5),
        (5, 0.5, 3),
        (5, 0.3, 2),
        (5, 0.01, 1),
        (1, 0.1, 1),
        (3, 4.0, 12),
    ],
)
def test_scaled_steps(steps, budget, expected) -> None:
    assert scaled_steps(steps, budget) == expected
    assert scaled_steps(steps, budget) == max(1, math.floor(steps * budget + 0.5))


@pytest.mark.parametrize(
    "solver", [PGD(steps=20, restarts=3), AdamAscent(steps=5, lr=0.5), CW(steps=10)], ids=repr
)
def test_scaled_solver_scales_steps_only(solver) -> None:
    before = dict(vars(solver))
    out = scaled_solver(solver, 0.5)
    assert vars(solver) == before  # never modified
    assert type(out) is type(solver) and out is not solver
    assert out.steps == scaled_steps(before["steps"], 0.5)
    assert {k: v for k, v in vars(out).items() if k != "steps"} == {
        k: v for k, v in before.items() if k != "steps"
    }


def test_scaled_solver_keeps_bim_alpha_and_fgsm() -> None:
    out = scaled_solver(BIM(steps=10), 0.3)
    assert out.steps == 3 and out.step_size == pytest.approx(1 / 3)
    fgsm = FGSM(step_size=0.5)
    assert vars(scaled_solver(fgsm, 0.1)) == vars(fgsm)


def test_scaled_solver_calls_the_solvers_own_scaled() -> None:
    # the extension point: a user solver decides how its budget scales
    class Mine(Solver):
        def __init__(self, evaluations: int) -> None:
            self.evaluations = evaluations

        def search(self, problem, *, generator):  # pragma: no cover - never run
            return None

        def scaled(self, factor):
            return Mine(round(self.evaluations * factor))

    s = Mine(40)
    out = scaled_solver(s, 0.25)
    assert out.evaluations == 10 and s.evaluations == 40


def test_scaled_solver_uses_the_session_budget() -> None:
    previous = set_budget(0.25)
    try:
        assert current_budget() == 0.25
        assert scaled_solver(PGD(steps=20)).steps == 5
    finally:
        assert set_budget(previous) == 0.25
    assert current_budget() == previous


def test_session_validation() -> None:
    with pytest.raises(RangeError, match="budget"):
        set_budget(0.0)
    with pytest.raises(NonFiniteError, match="budget"):
        set_budget(math.inf)
    with pytest.raises(RangeError, match="seed"):
        set_seed(-1)
    with pytest.raises(StochRobustTypeError, match="seed"):
        set_seed(1.5)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="solver"):
        scaled_solver("pgd", 1.0)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="budget"):
        scaled_solver(PGD(), -1.0)
    assert isinstance(current_seed(), int)


def test_package_exports_are_lazy_and_complete() -> None:
    for name in srt.__all__:
        assert callable(getattr(srt, name)), name
    assert "strategies" in dir(srt) and srt.strategies.images is not None
    with pytest.raises(AttributeError, match="nope"):
        srt.nope  # noqa: B018
