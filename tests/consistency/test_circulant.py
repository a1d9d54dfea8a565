from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

from stochrobust import RangeError, ShapeError, StochRobustTypeError
from stochrobust.consistency import PartialCirculant

F64 = torch.float64


def explicit_matrix(op: PartialCirculant) -> np.ndarray:
    """[D21]'s A = P_m · circ(g) · diag(signs), written out entry by entry."""
    g, signs, n = op.g.numpy(), op.signs.numpy(), op.n
    i, j = np.meshgrid(np.arange(op.m), np.arange(n), indexing="ij")
    return g[(i - j) % n] * signs[j]  # circular convolution: (g ⊛ v)[i] = Σ_j g[i − j] v[j]


@pytest.mark.parametrize(
    ("shape", "m"), [((1, 4, 5), 7), ((3, 3, 3), 27), ((2, 5, 2), 1), ((3, 4, 4), 30)]
)
def test_matches_the_explicit_partial_circulant_matrix(shape, m) -> None:
    op = PartialCirculant(shape, m, generator=torch.Generator().manual_seed(5))
    M = explicit_matrix(op)
    x = torch.randn(3, *shape, dtype=F64, generator=torch.Generator().manual_seed(6))
    ref = x.reshape(3, -1).numpy() @ M.T
    np.testing.assert_allclose(op.A(x).numpy(), ref, rtol=1e-12, atol=1e-12)
    y = torch.randn(3, m, dtype=F64)
    np.testing.assert_allclose(
        op.A_adjoint(y).reshape(3, -1).numpy(), y.numpy() @ M, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        op.A_pinv(y).reshape(3, -1).numpy(), y.numpy() @ np.linalg.pinv(M).T, atol=1e-10
    )


def test_random_draws_follow_the_paper_and_are_reproducible() -> None:
    op = PartialCirculant((3, 32, 32), 300, generator=torch.Generator().manual_seed(0))
    again = PartialCirculant((3, 32, 32), 300, generator=torch.Generator().manual_seed(0))
    other = PartialCirculant((3, 32, 32), 300, generator=torch.Generator().manual_seed(1))
    assert torch.equal(op.g, again.g) and torch.equal(op.signs, again.signs)
    assert not torch.equal(op.g, other.g)
    assert set(op.signs.unique().tolist()) == {-1.0, 1.0}
    # g_i ~ N(0, 1/m): E‖A x‖² = ‖x‖² (sample variance within 5 % for n = 3072)
    assert abs(float(op.g.var()) * op.m - 1.0) < 0.05
    assert abs(float((op.signs > 0).double().mean()) - 0.5) < 0.05


def test_square_case_is_solved_in_one_preconditioned_step() -> None:
    # m = n: A Aᵀ is circulant and T. Chan's preconditioner is exact.
    # One step is exact up to rounding (≈ eps · cond(A Aᵀ)); a second one polishes it.
    op = PartialCirculant((2, 4, 4), 32, generator=torch.Generator().manual_seed(2), max_iter=2)
    x = torch.randn(2, 2, 4, 4, dtype=F64)
    y = torch.randn(2, 32, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not converging within max_iter would warn
        p = op.project(x, y)
    assert float((op.A(p) - y).norm() / y.norm()) < 1e-11


def test_consistency_to_the_solver_tolerance_in_both_precisions() -> None:
    op = PartialCirculant((3, 16, 16), 200, generator=torch.Generator().manual_seed(3))
    for dtype, tol in ((torch.float32, 1e-5), (F64, 1e-11)):
        gen = torch.Generator().manual_seed(4)
        x = torch.rand(4, 3, 16, 16, generator=gen, dtype=dtype)
        y = op.A(torch.rand(4, 3, 16, 16, generator=gen, dtype=dtype))
        p = op.project(x, y)
        assert p.dtype == dtype
        assert float((op.A(p) - y).norm(dim=1).max() / y.norm(dim=1).min()) < tol


def test_gradient_of_the_projection_flows_through_the_solver() -> None:
    op = PartialCirculant((1, 4, 4), 10, generator=torch.Generator().manual_seed(8))
    x = torch.randn(2, 1, 4, 4, dtype=F64, requires_grad=True)
    y = torch.randn(2, 10, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: op.project(a, b), (x, y))
    # second order too (the backward pass is itself a differentiable solve)
    assert torch.autograd.gradgradcheck(lambda b: op.A_pinv(b), (y,))


def test_never_builds_a_dense_matrix() -> None:
    # 3×256×256 with 10 % measurements: a dense A would hold 3.9e9 float32 entries (15 GB).
    op = PartialCirculant((3, 256, 256), 19_660, generator=torch.Generator().manual_seed(0))
    assert sum(b.numel() for b in op.buffers()) == 2 * op.n
    x = torch.rand(1, 3, 256, 256)
    start = time.perf_counter()
    y = op.A(x)
    assert y.shape == (1, 19_660)
    assert time.perf_counter() - start < 5.0


def test_ill_conditioned_solve_warns_when_max_iter_is_too_small() -> None:
    op = PartialCirculant((1, 8, 8), 60, generator=torch.Generator().manual_seed(0), max_iter=2)
    with pytest.warns(RuntimeWarning, match="conjugate gradients"):
        op.A_pinv(torch.randn(1, 60, dtype=F64))


def test_bad_arguments() -> None:
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(StochRobustTypeError, match="shape: expected a sequence of 3 integers"):
        PartialCirculant((4, 4), 3)
    with pytest.raises(StochRobustTypeError, match="shape"):
        PartialCirculant(16, 3)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="shape"):
        PartialCirculant((0, 4, 4), 3)
    with pytest.raises(RangeError, match=r"m: expected an integer in \[1, C·H·W = 16\]"):
        PartialCirculant((1, 4, 4), 17)
    with pytest.raises(RangeError, match="m"):
        PartialCirculant((1, 4, 4), 0)
    with pytest.raises(StochRobustTypeError, match="m: expected an integer"):
        PartialCirculant((1, 4, 4), 3.0)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="generator"):
        PartialCirculant((1, 4, 4), 3, generator=0)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="tol"):
        PartialCirculant((1, 4, 4), 3, tol=0.0)
    op = PartialCirculant((1, 4, 4), 3, generator=gen)
    with pytest.raises(ShapeError, match=r"x: expected a shape \(N, 1, 4, 4\)"):
        op.A(torch.rand(2, 1, 4, 5))
    with pytest.raises(ShapeError, match=r"y: expected a shape \(N, 3\)"):
        op.A_adjoint(torch.rand(2, 4))
    with pytest.raises(ShapeError, match="y: expected the shape of A"):
        op.project(torch.rand(2, 1, 4, 4), torch.rand(2, 4))
