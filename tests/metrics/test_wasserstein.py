from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog

from stochrobust.errors import NonFiniteError, RangeError, ShapeError
from stochrobust.metrics import optimal_assignment, w2_dirac, w2_empirical
from stochrobust.metrics import wasserstein as wasserstein_module


@pytest.fixture(params=["network_simplex", "scipy"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with POT's network simplex (when installed) and with SciPy alone."""
    if request.param == "network_simplex":
        pytest.importorskip("ot")
    else:
        monkeypatch.setattr(wasserstein_module, "_network_simplex", lambda: None)
    return str(request.param)


# ----------------------------------------------------------------------------- references
def lp_w2_sq(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> float:
    """Exact squared W2 by a dense transport LP, built independently of the library."""
    n, m = len(a), len(b)
    cost = np.array([[np.sum((a[i] - b[j]) ** 2) for j in range(m)] for i in range(n)])
    a_eq = np.vstack([np.kron(np.eye(n), np.ones((1, m))), np.kron(np.ones((1, n)), np.eye(m))])
    res = linprog(
        cost.ravel(),
        A_eq=a_eq,
        b_eq=np.concatenate([wa / wa.sum(), wb / wb.sum()]),
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    return float(res.fun)


def perm_w2_sq(a: np.ndarray, b: np.ndarray) -> float:
    """Squared W2 of equal-size uniform clouds by enumerating every permutation."""
    return min(
        float(np.mean(np.sum((a - b[list(p)]) ** 2, axis=1)))
        for p in itertools.permutations(range(len(b)))
    )


# ----------------------------------------------------------------------------- oracles
@pytest.mark.parametrize(("n", "m", "d"), [(5, 7, 2), (9, 4, 3), (6, 6, 1), (1, 5, 2)])
def test_weighted_equals_independent_lp(
    n: int, m: int, d: int, gen: torch.Generator, transport: str
) -> None:
    for _ in range(3):
        a = torch.randn(n, d, generator=gen, dtype=torch.float64)
        b = torch.randn(m, d, generator=gen, dtype=torch.float64) + 0.5
        wa = torch.rand(n, generator=gen, dtype=torch.float64) + 0.1
        wb = torch.rand(m, generator=gen, dtype=torch.float64) + 0.1
        got = float(w2_empirical(a, b, wa, wb, squared=True))
        ref = lp_w2_sq(a.numpy(), b.numpy(), wa.numpy(), wb.numpy())
        assert got == pytest.approx(ref, abs=1e-8, rel=1e-8)
        uniform = float(w2_empirical(a, b, squared=True))
        ref_u = lp_w2_sq(a.numpy(), b.numpy(), np.ones(n), np.ones(m))
        assert uniform == pytest.approx(ref_u, abs=1e-8, rel=1e-8)


def test_equal_size_matches_assignment_and_lp(gen: torch.Generator) -> None:
    for n in (1, 2, 5, 6):
        a = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        b = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        got = float(w2_empirical(a, b, squared=True))
        assert got == pytest.approx(perm_w2_sq(a.numpy(), b.numpy()), abs=1e-12)
        ones = np.ones(n)
        assert got == pytest.approx(lp_w2_sq(a.numpy(), b.numpy(), ones, ones), abs=1e-8)
        perm = optimal_assignment(a, b)
        assert sorted(perm.tolist()) == list(range(n))
        assert got == pytest.approx(float((a - b[perm]).pow(2).sum(1).mean()), abs=1e-14)
        # Explicit uniform weights take the same (assignment) path.
        assert float(w2_empirical(a, b, torch.full((n,), 2.0), None, squared=True)) == got


def test_agrees_with_pot(gen: torch.Generator) -> None:
    ot = pytest.importorskip("ot")
    for n, m in ((40, 40), (30, 45)):
        a = torch.randn(n, 4, generator=gen, dtype=torch.float64)
        b = 1.5 * torch.randn(m, 4, generator=gen, dtype=torch.float64)
        wa = torch.rand(n, generator=gen, dtype=torch.float64)
        wb = torch.rand(m, generator=gen, dtype=torch.float64)
        ref = ot.emd2(
            (wa / wa.sum()).numpy(), (wb / wb.sum()).numpy(), ot.dist(a.numpy(), b.numpy())
        )
        assert float(w2_empirical(a, b, wa, wb, squared=True)) == pytest.approx(ref, abs=1e-8)
        ref_u = ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), ot.dist(a.numpy(), b.numpy()))
        assert float(w2_empirical(a, b, squared=True)) == pytest.approx(ref_u, abs=1e-8)


def test_network_simplex_stopping_early_falls_back_to_the_lp(
    gen: torch.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def stopped_early(wa: np.ndarray, wb: np.ndarray, cost: np.ndarray, **kw: object) -> tuple:
        calls.append(cost.shape)
        return np.zeros_like(cost), {"result_code": 3}  # 3: numItermax reached

    monkeypatch.setattr(wasserstein_module, "_network_simplex", lambda: stopped_early)
    a = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    wa = torch.rand(6, generator=gen, dtype=torch.float64)
    got = float(w2_empirical(a, b, wa, squared=True))
    assert calls == [(6, 4)]
    assert got == pytest.approx(lp_w2_sq(a.numpy(), b.numpy(), wa.numpy(), np.ones(4)), abs=1e-10)


def test_equal_uniform_clouds_never_consult_pot(
    gen: torch.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # w2_sensitivity_at's path: an assignment, with no POT import (about 0.6 s) on first use.
    def unexpected() -> None:
        raise AssertionError("the network simplex was consulted for equal uniform clouds")

    monkeypatch.setattr(wasserstein_module, "_network_simplex", unexpected)
    a = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    got = w2_empirical(a, b, squared=True)
    ref = [perm_w2_sq(a[i].numpy(), b[i].numpy()) for i in range(2)]
    assert got.tolist() == pytest.approx(ref, abs=1e-12)


def test_translation_is_the_shift_length() -> None:
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4], dtype=torch.float64)  # smaller than the spacing
    assert float(w2_empirical(a, a + shift)) == pytest.approx(0.5, abs=1e-15)


def test_batched_equals_per_cloud(gen: torch.Generator, transport: str) -> None:
    a = torch.randn(3, 6, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 6, 2, generator=gen, dtype=torch.float64)
    c = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    for other in (b, c):
        batched = w2_empirical(a, other)
        single = torch.stack([w2_empirical(a[i], other[i]) for i in range(3)])
        torch.testing.assert_close(batched, single, rtol=1e-12, atol=1e-12)
    assert optimal_assignment(a, b).shape == (3, 6)


def test_value_is_differentiable_with_the_plan_fixed(gen: torch.Generator, transport: str) -> None:
    a = torch.randn(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    c = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    d = torch.randn(7, 2, generator=gen, dtype=torch.float64)
    wd = torch.rand(7, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: w2_empirical(x, b, squared=True), (a,))  # assignment
    assert torch.autograd.gradcheck(lambda x: w2_empirical(x, c), (a,))  # n ≠ m
    assert torch.autograd.gradcheck(lambda x: w2_empirical(x, d), (a,))  # lcm 35 > 4·7
    assert torch.autograd.gradcheck(lambda x: w2_empirical(x, b, weights_b=wd[:5]), (a,))


def test_float32_lp_path_is_accurate(gen: torch.Generator, transport: str) -> None:
    # Far from the origin the expanded form ‖a‖² + ‖b‖² − 2 a·b would cancel in float32.
    a = torch.randn(7, 3, generator=gen) + 300.0
    b = torch.randn(5, 3, generator=gen) + 300.0
    ref = w2_empirical(a.double(), b.double(), squared=True)
    got = w2_empirical(a, b, squared=True)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(float(ref), rel=1e-5)


# ----------------------------------------------------------------------------- properties
cloud = st.integers(1, 5).flatmap(
    lambda n: st.lists(
        st.lists(st.floats(-10, 10, allow_nan=False, width=64), min_size=2, max_size=2),
        min_size=n,
        max_size=n,
    )
)


@given(cloud, cloud, cloud)
def test_metric_properties(xs: list, ys: list, zs: list) -> None:
    a, b, c = (torch.tensor(v, dtype=torch.float64) for v in (xs, ys, zs))
    ab, ba = float(w2_empirical(a, b)), float(w2_empirical(b, a))
    assert ab == pytest.approx(ba, abs=1e-6)
    assert float(w2_empirical(a, a)) == pytest.approx(0.0, abs=1e-6)
    ac, cb = float(w2_empirical(a, c)), float(w2_empirical(c, b))
    assert ab <= ac + cb + 1e-6


def test_identical_clouds_give_zero(gen: torch.Generator, transport: str) -> None:
    a = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    assert float(w2_empirical(a, a[torch.randperm(20, generator=gen)])) == 0.0
    assert float(w2_empirical(a, torch.cat([a, a]), squared=True)) == 0.0


# ----------------------------------------------------------------------------- w2_dirac
def test_w2_dirac_is_the_euclidean_distance(gen: torch.Generator) -> None:
    a = torch.randn(4, 2, 3, 3, generator=gen)
    b = torch.randn(4, 2, 3, 3, generator=gen)
    ref = torch.tensor(
        [math.dist(a[i].flatten().tolist(), b[i].flatten().tolist()) for i in range(4)]
    )
    torch.testing.assert_close(w2_dirac(a, b), ref)
    assert w2_dirac(torch.tensor([1.0, 2.0]), torch.tensor([4.0, 0.0])).tolist() == [3.0, 2.0]
    with pytest.raises(ShapeError, match="b: expected the shape of a"):
        w2_dirac(a, b[:2])
    with pytest.raises(ShapeError, match="a: expected a batch"):
        w2_dirac(torch.tensor(1.0), torch.tensor(2.0))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_typed_errors() -> None:
    a = torch.randn(4, 2)
    with pytest.raises(ShapeError, match="feature dimension"):
        w2_empirical(a, torch.randn(4, 3))
    with pytest.raises(ShapeError, match="non-empty"):
        w2_empirical(a, torch.empty(0, 2))
    with pytest.raises(ShapeError, match="b: expected 2 dims"):
        w2_empirical(a, torch.randn(1, 4, 2))
    bad = a.clone()
    bad[0, 0] = math.inf
    with pytest.raises(NonFiniteError, match="b: expected finite values"):
        w2_empirical(a, bad)
    with pytest.raises(RangeError, match="weights_a: expected non-negative"):
        w2_empirical(a, a, weights_a=torch.tensor([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ShapeError, match="weights_b: expected shape"):
        w2_empirical(a, a, weights_b=torch.ones(3))
    with pytest.raises(ShapeError, match="equal-size"):
        optimal_assignment(a, torch.randn(5, 2))
