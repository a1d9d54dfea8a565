from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stochrobust import NonFiniteError, RangeError, ShapeError
from stochrobust.sensitivity import (
    clip_box,
    project_ball,
    project_l1,
    project_l2,
    project_linf,
)

ORDERS = {"l2": 2.0, "linf": math.inf, "l1": 1.0}


def l1_bisection(v: np.ndarray, eps: float) -> np.ndarray:
    """Reference: the L1 projection by bisection on the threshold θ (float64)."""
    a = np.abs(v)
    if a.sum() <= eps:
        return v.copy()
    if eps == 0:
        return np.zeros_like(v)
    lo, hi = 0.0, float(a.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(a - mid, 0).sum() > eps:
            lo = mid
        else:
            hi = mid
    return np.sign(v) * np.maximum(a - 0.5 * (lo + hi), 0)


batches = st.integers(1, 4).flatmap(
    lambda b: st.tuples(
        arrays(
            np.float64,
            st.tuples(st.just(b), st.integers(1, 12), st.integers(1, 3)),
            elements=st.floats(-10, 10, allow_nan=False, width=64).map(lambda x: round(x, 6)),
        ),
        st.lists(st.floats(0, 20, allow_nan=False), min_size=b, max_size=b),
    )
)


@pytest.mark.parametrize("ball", ["l2", "linf", "l1"])
@given(data=batches)
def test_projection_lands_in_ball_is_idempotent_and_keeps_interior(ball, data) -> None:
    v_np, eps_list = data
    v = torch.from_numpy(v_np)
    eps = torch.tensor(eps_list, dtype=torch.float64)
    p = project_ball(v, eps, ball)
    norms = p.flatten(1).norm(p=ORDERS[ball], dim=1)
    assert bool((norms <= eps * (1 + 1e-12) + 1e-12).all())
    torch.testing.assert_close(project_ball(p, eps, ball), p, rtol=1e-12, atol=1e-12)
    inside = v.flatten(1).norm(p=ORDERS[ball], dim=1) <= eps
    torch.testing.assert_close(p[inside], v[inside], rtol=0, atol=0)
    assert p.shape == v.shape and p.dtype == v.dtype


@given(data=batches)
def test_l1_matches_bisection_reference(data) -> None:
    v_np, eps_list = data
    p = project_l1(torch.from_numpy(v_np), torch.tensor(eps_list, dtype=torch.float64))
    for b in range(v_np.shape[0]):
        ref = l1_bisection(v_np[b].ravel(), eps_list[b]).reshape(v_np[b].shape)
        np.testing.assert_allclose(p[b].numpy(), ref, rtol=0, atol=1e-10)


@given(data=batches)
def test_l2_and_linf_match_closed_forms(data) -> None:
    v_np, eps_list = data
    v = torch.from_numpy(v_np)
    eps = torch.tensor(eps_list, dtype=torch.float64)
    for b in range(v_np.shape[0]):
        n = np.linalg.norm(v_np[b])
        ref = v_np[b] * (min(1.0, eps_list[b] / n) if n > 0 else 1.0)
        np.testing.assert_allclose(project_l2(v, eps)[b].numpy(), ref, rtol=1e-12, atol=1e-14)
        ref_inf = np.clip(v_np[b], -eps_list[b], eps_list[b])
        np.testing.assert_array_equal(project_linf(v, eps)[b].numpy(), ref_inf)


def test_l1_is_the_euclidean_projection_on_random_trials(gen: torch.Generator) -> None:
    # Optimality: no feasible point on the segment towards random feasible points is closer.
    v = torch.randn(6, 30, generator=gen, dtype=torch.float64) * 3
    p = project_l1(v, 2.0)
    for _ in range(50):
        q = project_l1(torch.randn(6, 30, generator=gen, dtype=torch.float64), 2.0)
        # Variational inequality of a projection: <v - p, q - p> <= 0.
        assert bool((((v - p) * (q - p)).sum(1) <= 1e-10).all())


@pytest.mark.parametrize("ball", ["l2", "linf", "l1"])
def test_edge_cases(ball: str) -> None:
    v = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 1.0], [2.0, 2.0, 2.0]])
    torch.testing.assert_close(project_ball(v, 0.0, ball), torch.zeros_like(v))
    out = project_ball(v, 1.0, ball)
    assert not bool(torch.isnan(out).any())
    torch.testing.assert_close(out[0], v[0])  # zero row stays zero
    # ties: a symmetric input gives a symmetric output
    assert bool((out[2] == out[2, 0]).all())
    assert bool((out[1].abs() == out[1, 0].abs()).all())


def test_l1_ties_split_the_budget_evenly() -> None:
    v = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(project_l1(v, 2.0), torch.full_like(v, 0.5))
    torch.testing.assert_close(project_l1(-v, 1.0), torch.full_like(v, -0.25))


@pytest.mark.parametrize("eps", [0.5, 40.0, 900.0, 1990.0])
def test_l1_partial_sort_matches_reference_from_sparse_to_dense(eps: float, gen) -> None:
    # d = 2 500 standard normals, L1 norm ≈ 2 000: from a handful of survivors to almost all.
    v = torch.randn(3, 2500, generator=gen, dtype=torch.float64)
    p = project_l1(v, eps)
    for b in range(3):
        ref = l1_bisection(v[b].numpy(), eps)
        np.testing.assert_allclose(p[b].numpy(), ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_l1_partial_sort_equals_the_full_sort(monkeypatch, dtype, gen) -> None:
    from stochrobust.sensitivity import projections

    v = torch.randn(4, 3, 16, 16, generator=gen, dtype=dtype)
    eps = torch.tensor([1.0, 10.0, 300.0, 1e4], dtype=dtype)  # the last row is inside
    partial = project_l1(v, eps)
    monkeypatch.setattr(projections, "_l1_support_bound", lambda mag, l1, e: mag.shape[1])
    assert torch.equal(partial, project_l1(v, eps))


def test_l1_too_small_support_bound_falls_back_to_the_full_sort(monkeypatch, gen) -> None:
    from stochrobust.sensitivity import projections

    v = torch.randn(2, 400, generator=gen, dtype=torch.float64)
    monkeypatch.setattr(projections, "_l1_support_bound", lambda mag, l1, e: 2)
    p = project_l1(v, 100.0)  # about 100 survivors per row, far more than 2
    for b in range(2):
        np.testing.assert_allclose(p[b].numpy(), l1_bisection(v[b].numpy(), 100.0), atol=1e-9)


def test_l1_support_bound_is_an_upper_bound(gen) -> None:
    from stochrobust.sensitivity.projections import _l1_support_bound

    v = torch.randn(5, 3000, generator=gen, dtype=torch.float64)
    eps = torch.tensor([0.1, 3.0, 50.0, 800.0, 2000.0], dtype=torch.float64)
    mag = v.abs()
    k = _l1_support_bound(mag, mag.sum(1), eps)
    for b in range(5):
        rho = int((np.abs(l1_bisection(v[b].numpy(), float(eps[b]))) > 0).sum())
        assert rho < k


def test_float32_l1_overshoot_is_tiny(gen: torch.Generator) -> None:
    v = torch.randn(8, 3, 64, 64, generator=gen)
    p = project_l1(v, 5.0)
    l1 = p.flatten(1).abs().sum(1, dtype=torch.float64)
    assert bool((l1 <= 5.0 * (1 + 1e-5)).all())
    assert bool((l1 >= 5.0 * (1 - 1e-5)).all())


def test_per_sample_eps_and_unchecked_path_agree(gen: torch.Generator) -> None:
    v = torch.randn(3, 2, 5, generator=gen)
    eps = torch.tensor([0.0, 0.5, 100.0])
    for ball in ORDERS:
        a = project_ball(v, eps, ball)
        b = project_ball(v, eps, ball, check=False)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a[0], torch.zeros_like(v[0]))
        torch.testing.assert_close(a[2], v[2])
    torch.testing.assert_close(project_l2(v, 0.5), project_l2(v, torch.tensor(0.5)))


def test_input_untouched_and_gradients_flow(gen: torch.Generator) -> None:
    v = torch.randn(2, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    keep = v.detach().clone()
    for ball in ORDERS:
        project_ball(v, 0.3, ball).sum().backward()
    assert torch.equal(v.detach(), keep)
    assert v.grad is not None


def test_bad_inputs() -> None:
    v = torch.zeros(2, 3)
    with pytest.raises(RangeError, match="eps: expected a number in"):
        project_l2(v, -0.1)
    with pytest.raises(RangeError, match=r"eps: expected every entry >= 0"):
        project_l1(v, torch.tensor([0.1, -1.0]))
    with pytest.raises(NonFiniteError, match="eps"):
        project_linf(v, math.nan)
    with pytest.raises(NonFiniteError, match="eps"):
        project_linf(v, torch.tensor([0.1, math.nan]))
    with pytest.raises(ShapeError, match=r"eps: expected a number or a tensor of shape \(2,\)"):
        project_l2(v, torch.ones(3))
    with pytest.raises(ShapeError, match="delta"):
        project_l2(torch.zeros(0, 3), 1.0)
    with pytest.raises(RangeError, match="ball: expected one of"):
        project_ball(v, 1.0, "l3")
    with pytest.raises(RangeError, match="box: expected lo <= hi"):
        clip_box(v, v, (1.0, 0.0))
    with pytest.raises(ShapeError, match="delta: expected the shape of y"):
        clip_box(v, torch.zeros(2, 4))


@given(
    arrays(np.float64, (3, 5), elements=st.floats(-2, 2)),
    arrays(np.float64, (3, 5), elements=st.floats(-0.5, 1.5)),
)
def test_clip_box_lands_in_box_and_never_grows(d_np, y_np) -> None:
    d, y = torch.from_numpy(d_np), torch.from_numpy(y_np)
    c = clip_box(d, y, (0.0, 1.0))
    z = y + c
    assert bool(((z >= -1e-12) & (z <= 1 + 1e-12)).all())
    inside = (y >= 0) & (y <= 1)
    assert bool((c.abs()[inside] <= d.abs()[inside]).all())


@pytest.mark.parametrize("ball", ["l2", "linf", "l1"])
def test_device_and_dtype_preserved(ball: str, device: torch.device, dtype: torch.dtype) -> None:
    v = torch.randn(4, 3, 8, 8, device=device, dtype=dtype)
    p = project_ball(v, torch.rand(4, device=device, dtype=dtype), ball)
    assert p.device == v.device and p.dtype == v.dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [1e-6, 1e-3, 0.37, 5.0])
def test_l1_projection_stays_inside_the_ball_in_every_dtype(dtype, eps) -> None:
    # The 0.1 bug: theta rounded to float32 before the shrink gave an L1 ball 1.3 % above
    # eps for this input; the bound is eps * (1 + 4u), u the unit roundoff of the dtype.
    u = torch.finfo(dtype).eps / 2
    rows = [torch.tensor([[1.0, 0.25]], dtype=dtype)]
    g = torch.Generator().manual_seed(0)
    rows.append(torch.randn(64, 300, generator=g, dtype=dtype) * 10.0 ** torch.randint(
        -3, 4, (64, 1), generator=g).to(dtype))  # fmt: skip
    for v in rows:
        out = project_l1(v, eps)
        size = out.double().abs().sum(dim=1)  # exact for these magnitudes in float64
        assert bool((size <= eps * (1 + 4 * u)).all()), float(size.max() / eps - 1)
        target = torch.clamp(v.double().abs().sum(dim=1), max=eps)  # rows inside: unchanged
        assert bool((size >= target * (1 - 1e-3)).all())
