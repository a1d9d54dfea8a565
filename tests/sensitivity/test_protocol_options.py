"""Value oracles for the options of APGD, the Protocol, the solver contract and the [O24] tools.

Each test passes a non-default value and checks the result against a value derived by hand
from the documented algorithm or a closed form (issue #20's signature-coverage registry).
"""

from __future__ import annotations

import math

import pytest
import torch

from stochrobust import RangeError
from stochrobust.sensitivity import (
    APGD,
    LEVELS,
    PGD,
    Diagnostics,
    Problem,
    Protocol,
    default_solver,
    explore,
    lipschitz_lower_bound,
    project_ball,
    psnr_for_eps,
)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def parabola(d: torch.Tensor) -> torch.Tensor:
    """``f(δ) = −(δ − 0.3)²`` in 1-D: peak inside the unit ball, gradient ``0.6`` at 0."""
    return -(d - 0.3).pow(2).sum(1)


ZERO_1D = torch.zeros(1, 1, dtype=F64)


# ------------------------------------------------------------------ APGD step rule
def test_apgd_eta_is_the_first_step_in_radii() -> None:
    # One step from δ = 0 on v·δ (L2): z = Π(η·ε·v/‖v‖); ‖v‖ = 5, so the value is 5·min(η, 1)·ε.
    v = torch.tensor([[3.0, -4.0, 0.0]], dtype=F64)
    y = torch.zeros(1, 3, dtype=F64)

    def run(**kw: float) -> torch.Tensor:
        solver = APGD(steps=1, mirror=False, random_start=False, **kw)
        return solver.maximize(lambda d: (d * v).sum(1), y, 0.8, generator=gen()).value

    torch.testing.assert_close(run(eta=0.5), torch.tensor([0.5 * 0.8 * 5], dtype=F64))
    torch.testing.assert_close(run(eta=0.25), torch.tensor([0.25 * 0.8 * 5], dtype=F64))
    torch.testing.assert_close(run(), torch.tensor([0.8 * 5], dtype=F64))  # η = 2: the boundary


@pytest.mark.parametrize(("alpha", "x2"), [(0.7, 0.3), (0.75, 0.25), (1.0, 0.0), (0.5, 0.5)])
def test_apgd_alpha_weighs_the_new_step_against_the_last(alpha: float, x2: float) -> None:
    # η = 0.5, ε = 1 on the parabola: x₁ = 0.5 (no momentum on the first step); at x₁ the
    # gradient points back, z = 0, and x₂ = x₁ + α(z − x₁) + (1 − α)(x₁ − x₀) = 1 − α. The
    # checkpoint at k = 1 (⌈0.22·2⌉) does not halve: both steps improved, and the best value
    # improved since the (empty) last checkpoint. Best of f(0), f(0.5), f(x₂).
    best = APGD(steps=2, eta=0.5, alpha=alpha, mirror=False, random_start=False).maximize(
        parabola, ZERO_1D, 1.0, generator=gen()
    )
    want = max(-(0.3**2), -(0.2**2), -((x2 - 0.3) ** 2))
    torch.testing.assert_close(best.value, torch.tensor([want], dtype=F64), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("rho", "value"), [(0.75, -(0.075**2)), (0.5, -(0.2**2))])
def test_apgd_rho_is_the_success_fraction_of_condition_1(rho: float, value: float) -> None:
    # η = 1: x₁ = 1 overshoots (f = −0.49 < f(0) = −0.09), so 1 of the 2 steps before the
    # checkpoint at k = 1 succeeded. ρ = 0.75: 1 < 1.5, η halves to 0.5 and the run restarts
    # from the best point 0: z = 0.5, x₂ = α·0.5 = 0.375 → −0.075². ρ = 0.5: 1 < 1 fails, no
    # halving: z = Π(1 − 1) = 0, x₂ = 1 − α + (1 − α) = 0.5 → −0.2².
    best = APGD(steps=2, eta=1.0, rho=rho, mirror=False, random_start=False).maximize(
        parabola, ZERO_1D, 1.0, generator=gen()
    )
    torch.testing.assert_close(best.value, torch.tensor([value], dtype=F64), rtol=0, atol=1e-12)


def test_apgd_l1_topk_splits_the_step_over_the_top_coordinates() -> None:
    # L1, one step of η·ε = ε from 0 on v·δ, v = (3, −2, 1): top-2 moves (ε/2, −ε/2, 0), value
    # 2.5ε; top-1 moves to the vertex ε·e₁, value 3ε (the L1 optimum).
    v = torch.tensor([[3.0, -2.0, 1.0]], dtype=F64)
    y = torch.zeros(1, 3, dtype=F64)
    values = {
        k: APGD(steps=1, eta=1.0, l1_topk=k, mirror=False, random_start=False)
        .maximize(lambda d: (d * v).sum(1), y, 0.4, ball="l1", generator=gen())
        .value
        for k in (1, 2)
    }
    torch.testing.assert_close(values[2], torch.tensor([2.5 * 0.4], dtype=F64))
    torch.testing.assert_close(values[1], torch.tensor([3.0 * 0.4], dtype=F64))


# ------------------------------------------------------------------ solver contract
def test_diagnostics_tol_is_the_agreement_tolerance() -> None:
    # A flat history (no late gain); runner-up ratios 0.75 and 0.9975 of the best start.
    history = [torch.tensor([4.0, 4.0])] * 8
    starts = torch.tensor([[4.0, 4.0], [3.0, 3.99]])
    loose = Diagnostics.from_history(history, starts, 6, tol=0.3)
    strict = Diagnostics.from_history(history, starts, 6, tol=1e-3)
    assert loose.converged.tolist() == [True, True]
    assert strict.converged.tolist() == [False, False]


def test_problem_start_random_false_is_zero_and_finish_takes_start_values() -> None:
    y = torch.rand(2, 3, generator=gen(1), dtype=F64)
    problem = Problem(lambda d: d.pow(2).sum(1), y, torch.ones(2, dtype=F64), "l2", None)
    assert torch.equal(problem.start(generator=gen(), random=False), torch.zeros_like(y))
    random = problem.start(generator=gen(3), random=True)
    assert torch.equal(random, problem.start(generator=gen(3)))  # the generator's draw
    assert bool((random != 0).all()) and bool((random.norm(dim=1) <= 1 + 1e-12).all())
    problem.evaluate(torch.full_like(y, 0.5))  # value 0.75 per row
    given = torch.tensor([[0.75, 0.75], [0.5, 0.75]], dtype=F64)
    best = problem.finish(start_values=given)
    assert torch.equal(best.diagnostics.start_values, given)
    # runner-up: second-best start over the best, per sample (0.5/0.75 and a tie)
    torch.testing.assert_close(best.diagnostics.runner_up, torch.tensor([2 / 3, 1.0], dtype=F64))


def test_validate_args_false_gives_the_validated_result() -> None:
    a = torch.tensor([[3.0, 1.0], [0.0, 2.0]], dtype=F64)
    y = torch.zeros(3, 2, dtype=F64)
    eps = torch.full((3,), 0.5, dtype=F64)
    runs = [
        PGD(steps=20).maximize(
            lambda d: (d @ a.T).pow(2).sum(1), y, eps, generator=gen(2), validate_args=check
        )
        for check in (True, False)
    ]
    assert torch.equal(runs[0].delta, runs[1].delta) and torch.equal(runs[0].value, runs[1].value)
    sigma = float(torch.linalg.matrix_norm(a, ord=2))
    torch.testing.assert_close(runs[1].value, torch.full((3,), (0.5 * sigma) ** 2, dtype=F64))


@pytest.mark.parametrize("budget", ["fast", "thorough"])
def test_default_solver_budget_spends_that_budget(budget: str) -> None:
    # The L2 quadratic ‖Aδ‖² has the closed form ε²σ_max²; the budget bounds the evaluations.
    a = torch.diag(torch.tensor([2.0, 1.0, 0.5], dtype=F64))
    best = default_solver("l2", budget=budget).maximize(
        lambda d: (d @ a.T).pow(2).sum(1), torch.zeros(2, 3, dtype=F64), 0.5, generator=gen()
    )
    torch.testing.assert_close(best.value, torch.full((2,), 1.0, dtype=F64), rtol=1e-4, atol=0)
    assert bool((best.value <= 1.0 + 1e-12).all())
    assert LEVELS[budget] - 6 < best.diagnostics.evaluations <= LEVELS[budget]


def test_deprecated_project_is_project_ball() -> None:
    from stochrobust.sensitivity import project

    v = torch.tensor([[3.0, -4.0], [0.1, 0.2]], dtype=F64)
    with pytest.warns(DeprecationWarning, match="project_ball"):
        linf = project(v, 1.0, ball="linf")
    torch.testing.assert_close(linf, v.clamp(-1.0, 1.0), rtol=0, atol=0)
    with pytest.warns(DeprecationWarning, match="project_ball"):
        l2 = project(v, 1.0, ball="l2")
    torch.testing.assert_close(l2, torch.tensor([[0.6, -0.8], [0.1, 0.2]], dtype=F64))
    torch.testing.assert_close(l2, project_ball(v, 1.0, "l2"), rtol=0, atol=0)


# ------------------------------------------------------------------ [O24] tools
def test_explore_linf_ball_closed_form() -> None:
    # G(y) = diag(3, 1) y on the L∞ ball: s₁ maximises ‖Aδ‖ at a vertex (±ε, ±ε) → ε√10;
    # s₂ maximises min(‖Aδ‖, ‖A(δ − δ₁)‖) ≤ ε√10, reached at −δ₁.
    A = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = torch.rand(4, 2, generator=gen(2), dtype=F64)
    res = explore(lambda t: t @ A.T, y, 0.1, 3, ball="linf", generator=gen(5))
    want = torch.full((4, 2), 0.1 * math.sqrt(10), dtype=F64)
    torch.testing.assert_close(res.distance[:, 1:], want, rtol=1e-3, atol=0)
    torch.testing.assert_close(res.delta[:, 1].abs(), torch.full((4, 2), 0.1, dtype=F64))
    assert res.ball == "linf"


def test_explore_box_cuts_the_ball() -> None:
    # G(y) = 2y at y = 0.95, ε = 0.1, box [0, 1]: δ ∈ [−0.1, 0.05]. s₁ at δ = −0.1 (distance
    # 0.2); s₂ maximises min(|2δ|, |2(δ + 0.1)|) at δ = 0.05 → 0.1 (0.2 without the box).
    y = torch.full((3, 1), 0.95, dtype=F64)
    boxed = explore(lambda t: 2 * t, y, 0.1, 3, box=(0.0, 1.0), generator=gen(1))
    free = explore(lambda t: 2 * t, y, 0.1, 3, data_range=None, generator=gen(1))
    torch.testing.assert_close(boxed.distance[:, 1:], torch.tensor([[0.2, 0.1]] * 3, dtype=F64))
    torch.testing.assert_close(free.distance[:, 1:], torch.tensor([[0.2, 0.2]] * 3, dtype=F64))
    assert bool((y.unsqueeze(1) + boxed.delta <= 1.0).all())


@pytest.mark.parametrize("ball", ["linf", "l1"])
def test_lipschitz_ball_shells_and_solver_keep_sigma_max(ball: str) -> None:
    # ‖Aδ‖₂/‖δ‖₂ is 0-homogeneous and its maximiser e₁ lies in every ball: sigma_max = 3
    # whatever the ball, the number of shells or the solver.
    A = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = torch.rand(3, 2, generator=gen(3), dtype=F64)
    for kw in ({"shells": 3}, {"solver": APGD(steps=30, restarts=2)}):
        res = lipschitz_lower_bound(lambda t: t @ A.T, y, 0.2, ball=ball, generator=gen(4), **kw)
        assert res.ball == ball
        assert torch.all(res.values <= 3.0 * (1 + 1e-9))
        assert res.value == pytest.approx(3.0, rel=1e-4)
    with pytest.raises(RangeError, match="shells"):
        lipschitz_lower_bound(lambda t: t @ A.T, y, 0.2, shells=0)


def test_l1_topk_dense_steps_stall_off_the_optimal_vertex() -> None:
    # Rank-one quadratic (u vᵀ δ)² on the L1 ball: the optimum ε²‖u‖²·max|v_i|² sits at the
    # vertex ±ε·e₂, which top-1 steps reach exactly; top-4 steps move every coordinate by
    # the same amount, the L1 projection keeps the start's spread across coordinates, and
    # APGD ends well inside the face (about 0.6–0.95 of the optimum on these rows). The
    # protocol's vertex screening still finds the vertex with dense steps.
    u = torch.tensor([1.0, 2.0, -1.0], dtype=F64)
    v = torch.tensor([0.3, -0.9, 0.5, 0.1], dtype=F64)
    a = torch.outer(u, v)
    best = (0.2 * 0.9) ** 2 * 6

    def run(solver: object) -> torch.Tensor:
        return solver.maximize(  # type: ignore[attr-defined]
            lambda d: (d @ a.T).pow(2).sum(1),
            torch.zeros(4, 4, dtype=F64),
            0.2,
            ball="l1",
            generator=gen(),
        ).value

    torch.testing.assert_close(run(APGD(steps=40, l1_topk=1)), torch.full((4,), best, dtype=F64))
    dense = run(APGD(steps=40, l1_topk=4))
    assert bool((dense <= best * (1 + 1e-9)).all()) and bool((dense < 0.95 * best).all())
    torch.testing.assert_close(run(Protocol(l1_topk=4)), torch.full((4,), best, dtype=F64))


def test_psnr_for_eps_per_sample_chooses_the_pixel_count() -> None:
    # PSNR of a perturbation of L2 norm eps over n values of range R: 20·log10(R·√n / eps);
    # per_sample=True takes the whole shape as one input (n = 4·3·16·16), False drops the
    # leading batch dimension (n = 3·16·16).
    shape = (4, 3, 16, 16)
    for per_sample, n in ((True, 4 * 3 * 16 * 16), (False, 3 * 16 * 16)):
        want = 20 * math.log10(2.0 * math.sqrt(n) / 0.5)
        got = psnr_for_eps(shape, 0.5, 2.0, per_sample=per_sample)
        assert got == pytest.approx(want, rel=1e-12)


def test_lipschitz_shells_reach_a_slope_concentrated_near_y() -> None:
    # G(t) = t + 10·s·tanh(t/s), s = 1e-3: the ratio 1 + 10·tanh(|δ|/s)/(|δ|/s) decreases in
    # |δ| from its supremum 11 (δ → 0) to ≈ 1.01 on the sphere of radius eps = 1. Six shells
    # search down to eps/4⁵ ≈ s, where every point has ratio ≥ 8.7 and the solver converges
    # to the supremum; one ball of radius 1 leaves its steps too coarse for the 1e-3 spike.
    s = 1e-3
    y = torch.zeros(4, 2, dtype=F64)
    res = lipschitz_lower_bound(
        lambda t: t + 10 * s * torch.tanh(t / s), y, 1.0, shells=6, generator=gen(0),
        data_range=None,
    )  # fmt: skip
    assert bool((res.values <= 11.0 * (1 + 1e-12)).all())
    assert bool((res.values >= 11.0 * (1 - 1e-5)).all()), res.values
    assert float(res.delta_norm.max()) < 4 * s
