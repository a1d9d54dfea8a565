from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stochrobust import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.consistency import AvgPoolDownsample, BlurDownsample

F64 = torch.float64


def blur_reference(x: torch.Tensor, k: torch.Tensor, s: int) -> torch.Tensor:
    """Brute force: (A x)[i, j] = Σ_ab k[a, b] x[(s i + a − c_h) mod H, (s j + b − c_w) mod W]."""
    kh, kw = k.shape
    ch, cw = (kh - s) // 2, (kw - s) // 2
    out = torch.zeros_like(x)
    for a in range(kh):
        for b in range(kw):
            out = out + k[a, b] * torch.roll(x, shifts=(ch - a, cw - b), dims=(-2, -1))
    return out[..., ::s, ::s]


def gaussian(size: int, sigma: float) -> torch.Tensor:
    t = torch.arange(size, dtype=F64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return torch.outer(g, g) / g.sum() ** 2


@settings(max_examples=25)
@given(
    s=st.integers(1, 4),
    lh=st.integers(1, 4),
    lw=st.integers(1, 4),
    kh=st.integers(1, 9),
    kw=st.integers(1, 9),
    seed=st.integers(0, 2**31 - 1),
)
def test_matches_brute_force_circular_correlation(s, lh, lw, kh, kw, seed) -> None:
    # odd and even kernels, kernels larger than the image (they wrap around)
    gen = torch.Generator().manual_seed(seed)
    k = torch.rand(kh, kw, generator=gen, dtype=F64) + 0.05
    x = torch.randn(2, 3, s * lh, s * lw, generator=gen, dtype=F64)
    torch.testing.assert_close(
        BlurDownsample(k, s).A(x), blur_reference(x, k, s), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_box_kernel_is_plain_averaging(s: int) -> None:
    x = torch.rand(2, 3, 4 * s, 2 * s, dtype=F64)
    box = BlurDownsample(torch.ones(s, s, dtype=F64) / s**2, s)
    avg = AvgPoolDownsample(s)
    torch.testing.assert_close(box.A(x), avg.A(x), rtol=1e-13, atol=1e-13)
    y = torch.rand(2, 3, 4, 2, dtype=F64)
    torch.testing.assert_close(box.A_pinv(y), avg.A_pinv(y), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(box.project(x, y), avg.project(x, y), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("kshape", "s"), [((3, 3), 2), ((4, 5), 2), ((2, 2), 3), ((6, 6), 3)])
def test_aliased_eigenvalues_equal_the_dense_spectrum_of_AAt(dense, kshape, s) -> None:
    gen = torch.Generator().manual_seed(0)
    op = BlurDownsample(torch.rand(kshape, generator=gen) + 0.1, s)
    height, width = 3 * s, 4 * s
    M = dense(op, (1, 1, height, width))
    ref = torch.linalg.eigvalsh(M @ M.T)
    d = op.eigenvalues(height, width)
    assert d.shape == (3, 4)
    torch.testing.assert_close(d.flatten().sort().values, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize(("ksize", "sigma", "s"), [(7, 1.5, 4), (8, 1.0, 2), (13, 3.0, 8)])
def test_exactly_consistent_everywhere_including_borders(dtype, ksize, sigma, s) -> None:
    gen = torch.Generator().manual_seed(1)
    op = BlurDownsample(gaussian(ksize, sigma), s)
    x = torch.rand(2, 3, 64, 64, generator=gen, dtype=dtype)
    y = torch.rand(2, 3, 64 // s, 64 // s, generator=gen, dtype=dtype)  # any y: A is onto
    p = op.project(x, y)
    err = (op.A(p) - y).abs()
    tol = 1e-11 if dtype == F64 else 2e-5
    # the worst pixel, on the border rows/columns as well as in the interior
    assert float(err.max()) < tol
    assert (
        float(
            torch.cat([err[..., 0, :], err[..., -1, :], err[..., :, 0], err[..., :, -1]], -1).max()
        )
        < tol
    )
    torch.testing.assert_close(op.project(p, y), p, rtol=0, atol=10 * tol)


def test_rank_deficient_kernel_gives_the_moore_penrose_projection(dense) -> None:
    # A box of width 2s with stride s annihilates the frequency h/2 and all its aliases.
    s = 2
    op = BlurDownsample(torch.ones(2 * s, 2 * s), s)
    shape = (1, 1, 4 * s, 6 * s)
    M = dense(op, shape)
    d = op.eigenvalues(shape[2], shape[3])
    assert int((d < 1e-20).sum()) > 0  # genuinely singular
    assert torch.linalg.matrix_rank(M) < M.shape[0]
    gen = torch.Generator().manual_seed(2)
    x, v = (
        torch.randn(shape, generator=gen, dtype=F64),
        torch.randn(1, 1, 4, 6, generator=gen, dtype=F64),
    )
    pinv = torch.linalg.pinv(M)
    torch.testing.assert_close(op.A_pinv(v).flatten(), pinv @ v.flatten(), rtol=0, atol=1e-12)
    # y outside the range: the projection lands on the least-squares set {A x = P_range y}
    ref = x.flatten() + pinv @ (v.flatten() - M @ x.flatten())
    torch.testing.assert_close(op.project(x, v).flatten(), ref, rtol=0, atol=1e-12)
    # y inside the range: exactly consistent, in float32 too
    for dtype in (torch.float32, F64):
        w = torch.randn(shape, generator=gen, dtype=dtype)
        y = op.A(w)
        assert float((op.A(op.project(x.to(dtype), y)) - y).abs().max()) < (
            1e-5 if dtype == torch.float32 else 1e-12
        )


def test_tikhonov_regulariser_matches_the_dense_formula(dense) -> None:
    gen = torch.Generator().manual_seed(3)
    k = gaussian(5, 2.0)
    reg = 1e-3
    op = BlurDownsample(k, 2, reg=reg)
    shape = (1, 1, 8, 6)
    M = dense(op, shape)
    MMt = M @ M.T
    lam = reg * torch.linalg.eigvalsh(MMt).max()
    x, y = (
        torch.randn(shape, generator=gen, dtype=F64),
        torch.randn(1, 1, 4, 3, generator=gen, dtype=F64),
    )
    ref = x.flatten() + M.T @ torch.linalg.solve(
        MMt + lam * torch.eye(12, dtype=F64), y.flatten() - M @ x.flatten()
    )
    torch.testing.assert_close(op.project(x, y).flatten(), ref, rtol=1e-10, atol=1e-12)
    ref_pinv = M.T @ torch.linalg.solve(MMt + lam * torch.eye(12, dtype=F64), y.flatten())
    torch.testing.assert_close(op.A_pinv(y).flatten(), ref_pinv, rtol=1e-10, atol=1e-12)
    # regularised: no longer exactly consistent, but closer to x than the exact projection
    exact = BlurDownsample(k, 2).project(x, y)
    assert float((op.A(op.project(x, y)) - y).abs().max()) > 1e-6
    assert float((op.project(x, y) - x).norm()) < float((exact - x).norm())


def test_rtol_truncates_like_dense_pinv(dense) -> None:
    op_full = BlurDownsample(gaussian(5, 1.2), 2)
    shape = (1, 1, 8, 8)
    M = dense(op_full, shape)
    sv = torch.linalg.svdvals(M)
    # a cut-off halfway (geometrically) between two distinct singular values
    cut = math.sqrt(float(sv[8] * sv[9])) / float(sv[0])
    op = BlurDownsample(gaussian(5, 1.2), 2, rtol=cut)
    y = torch.randn(1, 1, 4, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    ref = torch.linalg.pinv(M, rtol=cut) @ y.flatten()
    torch.testing.assert_close(op.A_pinv(y).flatten(), ref, rtol=1e-10, atol=1e-12)


def test_kernel_validation_and_options() -> None:
    with pytest.raises(ShapeError, match="kernel: expected a non-empty 2-D"):
        BlurDownsample(torch.ones(3), 2)
    with pytest.raises(ShapeError, match="kernel: expected a non-empty 2-D"):
        BlurDownsample(torch.ones(1, 3, 3), 2)
    with pytest.raises(RangeError, match="kernel: expected entries summing to a positive"):
        BlurDownsample(torch.tensor([[1.0, -1.0]]), 2)
    with pytest.raises(RangeError, match="positive"):
        BlurDownsample(-torch.ones(3, 3), 2)
    with pytest.raises(NonFiniteError, match="kernel"):
        BlurDownsample(torch.tensor([[1.0, float("nan")]]), 2)
    with pytest.raises(StochRobustTypeError, match="kernel: expected a real floating-point"):
        BlurDownsample(torch.ones(3, 3, dtype=torch.int64), 2)
    with pytest.raises(StochRobustTypeError, match="scale: expected an integer"):
        BlurDownsample(torch.ones(3, 3), 1.5)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="scale"):
        BlurDownsample(torch.ones(3, 3), 0)
    with pytest.raises(RangeError, match="boundary"):
        BlurDownsample(torch.ones(3, 3), 2, boundary="reflect")
    with pytest.raises(RangeError, match="reg"):
        BlurDownsample(torch.ones(3, 3), 2, reg=-1.0)
    with pytest.raises(ShapeError, match="divisible by the scale 3"):
        BlurDownsample(torch.ones(3, 3), 3).project(torch.rand(1, 1, 9, 8), torch.rand(1, 1, 3, 3))
    with pytest.raises(ShapeError, match="y: expected the shape of A"):
        BlurDownsample(torch.ones(3, 3), 3).project(torch.rand(1, 1, 9, 9), torch.rand(1, 1, 3, 4))
    # negative entries are fine when the sum is positive; the kernel is not normalised
    op = BlurDownsample(torch.tensor([[-1.0, 4.0, -1.0]]), 1)
    torch.testing.assert_close(op.A(torch.ones(1, 1, 3, 3)), 2 * torch.ones(1, 1, 3, 3))
    assert "scale=1" in repr(op)
