from __future__ import annotations

import math
import re

import pytest
import torch

from stochrobust import (
    Estimator,
    ModelError,
    NonFiniteError,
    RangeError,
    StochRobustTypeError,
)
from stochrobust.sensitivity import PGD, AdamAscent, sensitivity_at
from stochrobust.testing import (
    assert_output_psnr_above,
    assert_sensitivity_below,
    default_generator,
    set_budget,
    set_seed,
)

EPS = 1e-3
BOUND_NORM = 3e-3  # between the robust (≈1.7e-3) and the erratic (≈4.9e-2) disk estimators


@pytest.fixture
def ys() -> torch.Tensor:
    return torch.linspace(-0.9, 0.9, 8, dtype=torch.float64).reshape(-1, 1)


def numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


# ---------------------------------------------------------------- the disk toy (SPEC §6)
def test_robust_disk_passes_erratic_fails_at_same_eps(disk, disk_brute_force, ys) -> None:
    res = assert_sensitivity_below(disk(1.0), ys, EPS, data_range=None, max_norm=BOUND_NORM)
    oracle = disk_brute_force(1.0, ys, EPS)  # eq. 2 by exhaustive search over [-eps, eps]
    assert bool((res.root <= oracle * (1 + 1e-9)).all())  # an attack is a lower bound
    assert bool((res.root >= 0.99 * oracle).all())
    with pytest.raises(AssertionError) as info:
        assert_sensitivity_below(disk(50.0), ys, EPS, box=(-1.0, 1.0), max_norm=BOUND_NORM)
    msg = str(info.value)
    worst = disk_brute_force(50.0, ys, EPS)
    assert float(worst.min()) > 3 * BOUND_NORM  # the erratic estimator truly fails everywhere
    # the message reports the attack's numbers: the same call with a loose bound returns them
    found = assert_sensitivity_below(disk(50.0), ys, EPS, box=(-1.0, 1.0), max_norm=1.0)
    assert bool((found.root <= worst * (1 + 1e-9)).all())
    assert float(found.root.max()) >= 0.99 * float(worst.max())
    top = int(found.root.argmax())
    assert f"found max {float(found.root[top]):.4g} at input {top} vs bound 0.003" in msg
    assert "max_norm = 0.003" in msg and f"at {ys.shape[0]} of {ys.shape[0]} inputs" in msg
    assert "eps = 0.001 on the l2 ball" in msg
    assert "worst-case AI-PSNR 60.00 dB" in msg  # 20·log10(sqrt(1) / 1e-3)
    assert "n_seeds = 1 (deterministic estimator)" in msg
    assert "solver = Protocol(budget='default'" in msg and "seed 0" in msg
    rows = [ln for ln in msg.splitlines() if re.match(r"\s+\[\d+\] ", ln)]
    assert len(rows) == 5 and "... and 3 more inputs above the bound" in msg
    order = torch.argsort(found.root, descending=True, stable=True)[:5].tolist()
    for row, idx in zip(rows, order, strict=True):  # index: value | sqrt | AI-PSNR | eq. 9
        assert row.strip().startswith(f"[{idx}]")
        value, norm, ai, out = numbers(row.split("]", 1)[1])[:4]
        assert value == pytest.approx(float(found.value[idx]), rel=1e-3)
        assert norm == pytest.approx(float(found.root[idx]), rel=1e-3)
        assert ai == pytest.approx(float(found.input_psnr[idx]), abs=0.01)
        assert out == pytest.approx(float(found.output_psnr[idx]), abs=0.01)


def test_max_value_is_the_square_of_max_norm(disk, ys) -> None:
    res = assert_sensitivity_below(disk(1.0), ys, EPS, data_range=None, max_value=BOUND_NORM**2)
    assert torch.allclose(res.value, res.root**2)
    with pytest.raises(AssertionError, match=r"eq\. 6 value, squared\) above max_value = 9e-06"):
        assert_sensitivity_below(disk(50.0), ys, EPS, data_range=None, max_value=BOUND_NORM**2)
    # a bound between value and norm: passes as a norm bound, fails as a value bound
    top = float(res.root.max())
    assert_sensitivity_below(disk(1.0), ys, EPS, data_range=None, max_norm=top * 1.01)
    with pytest.raises(AssertionError):
        assert_sensitivity_below(disk(1.0), ys, EPS, data_range=None, max_value=(top * 0.99) ** 2)


def test_same_generator_same_verdict_and_default_is_deterministic(disk, ys) -> None:
    msgs = []
    for _ in range(2):
        with pytest.raises(AssertionError) as info:
            assert_sensitivity_below(disk(50.0), ys, EPS, data_range=None, max_norm=BOUND_NORM)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]
    a = assert_sensitivity_below(
        disk(1.0),
        ys,
        EPS,
        data_range=None,
        max_norm=1.0,
        generator=torch.Generator().manual_seed(5),
    )
    b = assert_sensitivity_below(
        disk(1.0),
        ys,
        EPS,
        data_range=None,
        max_norm=1.0,
        generator=torch.Generator().manual_seed(5),
    )
    assert torch.equal(a.value, b.value) and torch.equal(a.delta, b.delta)
    # the default is the session seed: equal to an explicit generator with that seed
    c = assert_sensitivity_below(disk(1.0), ys, EPS, data_range=None, max_norm=1.0)
    d = sensitivity_at(
        disk(1.0), ys, EPS, data_range=None, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(c.delta, d.delta)


def test_session_seed_changes_default_generator(disk, ys) -> None:
    previous = set_seed(11)
    try:
        assert torch.equal(
            torch.rand(4, generator=default_generator()),
            torch.rand(4, generator=torch.Generator().manual_seed(11)),
        )
        with pytest.raises(AssertionError, match="seed 11"):
            assert_sensitivity_below(disk(50.0), ys, EPS, data_range=None, max_norm=BOUND_NORM)
    finally:
        set_seed(previous)


def test_given_generator_is_reported(disk, ys) -> None:
    with pytest.raises(AssertionError, match="generator: given by the caller"):
        assert_sensitivity_below(
            disk(50.0),
            ys,
            EPS,
            data_range=None,
            max_norm=BOUND_NORM,
            generator=torch.Generator().manual_seed(1),
        )


# ---------------------------------------------------------------- closed forms
def test_linear_oracle_and_aggregate_mean() -> None:
    # G(y) = 2y: eq. 2 = 2·eps exactly; per-sample eps 0.1 and 0.3 -> norms 0.2 and 0.6
    y = torch.zeros(2, 3, dtype=torch.float64)
    eps = torch.tensor([0.1, 0.3], dtype=torch.float64)
    with pytest.raises(AssertionError) as info:
        assert_sensitivity_below(lambda t: 2 * t, y, eps, max_norm=0.5)
    msg = str(info.value)
    assert "at 1 of 2 inputs" in msg and "found max 0.6 at input 1" in msg
    assert "| eps 0.3" in msg and "eps per input in [0.1, 0.3]" in msg
    res = assert_sensitivity_below(lambda t: 2 * t, y, eps, max_norm=0.5, aggregate="mean")
    assert res.root.tolist() == pytest.approx([0.2, 0.6])
    with pytest.raises(AssertionError, match=r"mean 0\.4 vs bound 0\.3 \(1\.33x the bound\)"):
        assert_sensitivity_below(lambda t: 2 * t, y, eps, max_norm=0.3, aggregate="mean")
    # eq. 7: mean of the squared values (0.04 + 0.36) / 2 = 0.2
    with pytest.raises(AssertionError, match=r"\(eq\. 7\).*\n(.*\n)*  mean 0\.2 vs bound 0\.19"):
        assert_sensitivity_below(lambda t: 2 * t, y, eps, max_value=0.19, aggregate="mean")


def test_stochastic_seed_cancels_and_n_seeds_reported() -> None:
    # G(y, z) = A y + B z: r~ = eps² σ_max(A)² whatever the seeds (SPEC §2)
    A = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    est = Estimator(lambda y, z: y @ A.T + z, seed_shape=(2,))
    y = torch.zeros(3, 2, dtype=torch.float64)
    res = assert_sensitivity_below(est, y, 0.1, max_value=0.0901, n_seeds=4)
    assert res.value.tolist() == pytest.approx([0.09] * 3, rel=1e-6)
    with pytest.raises(AssertionError, match=r"n_seeds = 4, box = None") as info:
        assert_sensitivity_below(est, y, 0.1, max_value=0.05, n_seeds=4)
    assert "deterministic" not in str(info.value)


def test_output_psnr_closed_form() -> None:
    # G(y) = c·y on an L2 ball: ‖ΔG‖ = c·eps, eq. 9 = 10·log10(n / (c·eps)²)
    n, c, eps = 48, 0.5, 0.2
    y = torch.rand(3, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = 10 * math.log10(n / (c * eps) ** 2)
    res = assert_output_psnr_above(lambda t: c * t, y, eps, expected - 0.01)
    assert res.output_psnr.tolist() == pytest.approx([expected] * 3, abs=1e-4)
    with pytest.raises(AssertionError) as info:
        assert_output_psnr_above(lambda t: c * t, y, eps, expected + 1.0)
    msg = str(info.value)
    assert f"below min_psnr_db = {expected + 1.0:.2f} dB at 3 of 3 inputs" in msg
    assert f"found min {expected:.2f} dB" in msg
    with pytest.raises(AssertionError, match=f"mean {expected:.2f} dB vs bound"):
        assert_output_psnr_above(lambda t: c * t, y, eps, expected + 1.0, aggregate="mean")
    assert_output_psnr_above(lambda t: c * t, y, eps, expected - 1.0, aggregate="mean")


def test_model_errors_propagate_unchanged() -> None:
    # a piecewise-constant model has no gradient: a ModelError, not an AssertionError
    with pytest.raises(ModelError, match="gradient"):
        assert_output_psnr_above(lambda t: 0 * t + 1, torch.rand(2, 4), 0.1, 200.0)


# ---------------------------------------------------------------- budget and solvers
def test_budget_scales_the_solver_and_is_reported(disk, ys) -> None:
    with pytest.raises(AssertionError) as info:
        assert_sensitivity_below(
            disk(50.0), ys, EPS, data_range=None, max_norm=BOUND_NORM, budget=0.25
        )
    msg = str(info.value)
    assert "solver = Protocol(budget=25," in msg
    assert "(scaled from Protocol(budget='default', eta=10.0, l1_topk=1) by the budget 0.25)" in msg
    assert (
        "attack: converged " in msg and "24 evaluations/input, 2 starts" in msg
    )  # 25 plans 2 x 10 steps + 4
    previous = set_budget(0.1)
    try:
        with pytest.raises(
            AssertionError, match=r"solver = AdamAscent\(restarts=1, random_start=True, steps=1,"
        ):
            assert_sensitivity_below(
                disk(50.0),
                ys,
                EPS,
                data_range=None,
                max_norm=BOUND_NORM,
                solver=AdamAscent(lr=1e-3),
            )
    finally:
        set_budget(previous)


def test_user_solver_is_not_modified(disk, ys) -> None:
    solver = PGD(steps=8)
    assert_sensitivity_below(
        disk(1.0), ys, EPS, data_range=None, max_norm=1.0, solver=solver, budget=0.5
    )
    assert solver.steps == 8


# ---------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    "kwargs", [{}, {"max_value": 1.0, "max_norm": 1.0}], ids=["neither", "both"]
)
def test_exactly_one_bound(kwargs) -> None:
    with pytest.raises(StochRobustTypeError, match="expected exactly one bound"):
        assert_sensitivity_below(lambda t: t, torch.zeros(1, 2), 0.1, **kwargs)


def test_bad_arguments_raise_typed_errors_not_assertion_errors() -> None:
    y = torch.zeros(1, 2)
    with pytest.raises(RangeError, match="max_norm"):
        assert_sensitivity_below(lambda t: t, y, 0.1, max_norm=-1.0)
    with pytest.raises(RangeError, match="aggregate"):
        assert_sensitivity_below(lambda t: t, y, 0.1, max_norm=1.0, aggregate="max")  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="solver"):
        assert_sensitivity_below(lambda t: t, y, 0.1, max_norm=1.0, solver="pgd")  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="generator"):
        assert_sensitivity_below(lambda t: t, y, 0.1, max_norm=1.0, generator=0)  # type: ignore[arg-type]
    with pytest.raises(NonFiniteError, match="^y: "):
        assert_sensitivity_below(lambda t: t, torch.full((1, 2), math.nan), 0.1, max_norm=1.0)
    with pytest.raises(NonFiniteError, match="min_psnr_db"):
        assert_output_psnr_above(lambda t: t, y, 0.1, math.nan)
