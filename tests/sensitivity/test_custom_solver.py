"""A solver written against public names only runs through every entry point (issue #15)."""

from __future__ import annotations

import dataclasses

import torch

from stochrobust.sensitivity import (
    Problem,
    RestartSolver,
    local_lipschitz,
    robustness,
    sensitivity_at,
)
from stochrobust.testing import assert_sensitivity_below


@dataclasses.dataclass
class NormalisedAscent(RestartSolver):
    steps: int = 30

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        for _ in range(self.steps):
            _, _, grad = problem.value_and_grad(delta)
            unit = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1)
            delta = problem.project(delta + 0.5 * problem.eps.view(-1, 1) * unit)
        return delta

    def scaled(self, factor: float) -> NormalisedAscent:
        return dataclasses.replace(self, steps=max(1, round(self.steps * factor)))


A = torch.tensor([[3.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
SIGMA = float(torch.linalg.matrix_norm(A, ord=2))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_user_solver_reaches_the_closed_form_through_every_entry_point() -> None:
    y = torch.full((3, 2), 0.5, dtype=torch.float64)
    model = lambda v: v @ A.T  # noqa: E731
    res = sensitivity_at(model, y, 0.1, solver=NormalisedAscent(), generator=_gen(0), warn=False)
    assert torch.allclose(res.root, torch.full((3,), 0.1 * SIGMA, dtype=torch.float64), rtol=1e-6)
    assert res.solver.startswith("NormalisedAscent(")
    lip = local_lipschitz(model, y, 0.1, solver=NormalisedAscent(), generator=_gen(0))
    assert torch.allclose(lip, torch.full((3,), SIGMA, dtype=torch.float64), rtol=1e-6)
    rep = robustness(model, y, 0.1, solver=NormalisedAscent(), progress=False, generator=_gen(0))
    assert abs(rep.r - 0.1 * SIGMA) < 1e-6
    found = assert_sensitivity_below(
        model, y, 0.1, max_value=(0.1 * SIGMA) ** 2 * 1.01, solver=NormalisedAscent()
    )
    assert float(found.value.max()) > (0.1 * SIGMA) ** 2 * 0.99


def test_more_steps_are_never_worse_and_scaled_scales_the_budget() -> None:
    assert NormalisedAscent(steps=10).scaled(3).steps == 30
    y = torch.full((2, 2), 0.5, dtype=torch.float64)
    short = sensitivity_at(
        lambda v: v @ A.T, y, 0.1, solver=NormalisedAscent(steps=1), generator=_gen(1), warn=False
    )
    long = sensitivity_at(
        lambda v: v @ A.T, y, 0.1, solver=NormalisedAscent(steps=40), generator=_gen(1), warn=False
    )
    assert bool((long.value >= short.value - 1e-15).all())


@dataclasses.dataclass
class RestartsBudget(RestartSolver):
    """Scales through ``restarts`` by naming it, with no ``scaled`` of its own."""

    budget_count = "restarts"
    steps: int = 7

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        return delta


def test_inherited_scaled_scales_the_field_budget_count_names() -> None:
    # round(count * factor), halves up, at least 1 (scale_count): 5 * 0.5 = 2.5 -> 3
    assert RestartsBudget(restarts=5).scaled(0.5) == RestartsBudget(restarts=3, steps=7)
    assert RestartsBudget(restarts=5).scaled(0.01).restarts == 1
    # the default names "steps": NormalisedAscent's own rule and the inherited one agree here
    inherited = RestartSolver.scaled(NormalisedAscent(steps=10, restarts=2), 3)
    assert inherited == NormalisedAscent(steps=30, restarts=2)
