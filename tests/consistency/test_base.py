from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stochrobust import NonFiniteError, ShapeError, StochRobustTypeError
from stochrobust.consistency import (
    AvgPoolDownsample,
    BlurDownsample,
    Colorization,
    Inpainting,
    LinearOperator,
    PartialCirculant,
)

F64 = torch.float64


def rand(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=dtype)


# The contract of LinearOperator, checked on every operator.
@given(data=st.data())
def test_adjointness_for_every_operator(cases, data) -> None:
    op, shape, gen = data.draw(cases())
    u = rand(shape, gen)
    v = rand(op.range_shape(shape), gen)
    au = op.A(u)
    lhs = (au * v).sum()
    rhs = (u * op.A_adjoint(v)).sum()
    # relative to the Cauchy–Schwarz scale of the inner products
    scale = au.norm() * v.norm() + u.norm() * op.A_adjoint(v).norm()
    assert float((lhs - rhs).abs()) <= 1e-10 * float(scale) + 1e-300
    assert au.shape == op.range_shape(shape)
    assert op.A_adjoint(v).shape == shape


@settings(max_examples=30)
@given(data=st.data())
def test_projection_and_pinv_match_dense_least_squares(cases, dense, data) -> None:
    op, shape, gen = data.draw(cases())
    n = shape[0]
    x, w = rand(shape, gen), rand(shape, gen)
    y = op.A(w)  # a measurement in the range of A
    p = op.project(x, y)
    yscale = 1.0 + float(y.abs().max())
    # consistent, idempotent, leaves consistent images unchanged
    torch.testing.assert_close(op.A(p), y, rtol=0, atol=1e-10 * yscale)
    torch.testing.assert_close(op.project(p, y), p, rtol=0, atol=1e-10 * (1 + float(p.abs().max())))
    torch.testing.assert_close(op.project(w, y), w, rtol=0, atol=1e-10 * (1 + float(w.abs().max())))
    # minimum-norm move: the dense least-squares solution x + M⁺(y − M x) per sample
    per_sample = isinstance(op, Inpainting) and op.mask.ndim == 4 and op.mask.shape[0] > 1
    for b in range(n):
        single = (1, *shape[1:])
        sub = Inpainting(op.mask[b : b + 1]) if per_sample else op
        M = dense(sub, single)
        pinv = torch.linalg.pinv(M)
        ref = x[b].flatten() + pinv @ (y[b].flatten() - M @ x[b].flatten())
        torch.testing.assert_close(
            p[b].flatten(), ref, rtol=0, atol=1e-9 * (1 + float(ref.abs().max()))
        )
        # A_pinv equals the dense pseudo-inverse, also for measurements outside the range
        v = rand(sub.range_shape(single), gen)
        ref_pinv = pinv @ v.flatten()
        torch.testing.assert_close(
            sub.A_pinv(v).flatten(), ref_pinv, rtol=0, atol=1e-9 * (1 + float(ref_pinv.abs().max()))
        )


@settings(max_examples=25)
@given(data=st.data())
def test_projection_is_the_closest_consistent_point(cases, data) -> None:
    # Without a dense oracle: for every consistent z, x − P(x) ⟂ z − P(x) (an affine set),
    # hence ‖x − P(x)‖ ≤ ‖x − z‖.
    op, shape, gen = data.draw(cases(max_side=6))
    x, w = rand(shape, gen), rand(shape, gen)
    y = op.A(w)
    p = op.project(x, y)
    z = op.project(rand(shape, gen), y)
    inner = ((x - p) * (z - p)).flatten(1).sum(1)
    scale = (x - p).flatten(1).norm(dim=1) * (z - p).flatten(1).norm(dim=1)
    assert bool((inner.abs() <= 1e-9 * (scale + 1)).all())
    assert bool(((x - p).flatten(1).norm(dim=1) <= (x - z).flatten(1).norm(dim=1) + 1e-9).all())


def _example(kind: str) -> tuple[LinearOperator, tuple[int, int, int, int]]:
    gen = torch.Generator().manual_seed(7)
    if kind == "inpainting":
        return Inpainting(torch.rand(6, 5, generator=gen) < 0.5), (2, 3, 6, 5)
    if kind == "avgpool":
        return AvgPoolDownsample(2), (2, 3, 6, 4)
    if kind == "blur":
        return BlurDownsample(torch.rand(4, 3, generator=gen) + 0.1, 2), (2, 3, 6, 4)
    if kind == "circulant":
        return PartialCirculant((3, 6, 4), 20, generator=gen), (2, 3, 6, 4)
    return Colorization(), (2, 3, 6, 4)


KIND_NAMES = ["inpainting", "avgpool", "blur", "circulant", "colorization"]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_dtype_and_device_are_kept(kind: str, device: torch.device, dtype: torch.dtype) -> None:
    op, shape = _example(kind)
    gen = torch.Generator().manual_seed(0)
    x64 = torch.rand(shape, generator=gen, dtype=F64)
    y64 = op.A(torch.rand(shape, generator=gen, dtype=F64))
    x, y = x64.to(device, dtype), y64.to(device, dtype)
    outs = {
        "A": (op.A(x), op.A(x64)),
        "A_adjoint": (op.A_adjoint(y), op.A_adjoint(y64)),
        "A_pinv": (op.A_pinv(y), op.A_pinv(y64)),
        "project": (op.project(x, y), op.project(x64, y64)),
    }
    tol = 1e-12 if dtype == F64 else 2e-5
    for name, (out, ref) in outs.items():
        assert out.dtype == dtype and out.device.type == device.type, name
        torch.testing.assert_close(out.to("cpu", F64), ref, rtol=tol, atol=tol, msg=name)
    # an operator moved with .to() gives the same result
    moved = op.to(device)
    torch.testing.assert_close(moved.project(x, y), outs["project"][0])


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_gradients_are_exact(kind: str) -> None:
    op, _ = _example(kind)
    shape = (1, *_example(kind)[1][1:])
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(shape, generator=gen, dtype=F64, requires_grad=True)
    y = op.A(torch.rand(shape, generator=gen, dtype=F64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: op.project(a, b), (x, y), fast_mode=True)
    assert torch.autograd.gradcheck(lambda b: op.A_pinv(b), (y,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda a: op.A(a), (x,), fast_mode=True)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_inputs_are_not_modified_and_module_call_is_A(kind: str) -> None:
    op, shape = _example(kind)
    x = torch.rand(shape, dtype=F64)
    y = op.A(torch.rand(shape, dtype=F64))
    keep_x, keep_y = x.clone(), y.clone()
    op.project(x, y)
    op.A_pinv(y)
    assert torch.equal(x, keep_x) and torch.equal(y, keep_y)
    assert torch.equal(op(x), op.A(x))
    assert isinstance(op, torch.nn.Module)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_bad_inputs_raise_typed_errors(kind: str) -> None:
    op, shape = _example(kind)
    x = torch.rand(shape)
    y = op.A(x)
    with pytest.raises(ShapeError, match="x: expected"):
        op.A(x[0])
    with pytest.raises(ShapeError, match="x: expected"):
        op.A(x.new_zeros(0, *shape[1:]))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="x: expected finite"):
        op.project(bad, y)
    with pytest.raises(StochRobustTypeError, match="x: expected a real floating-point"):
        op.A(torch.ones(shape, dtype=torch.int64))
    with pytest.raises(StochRobustTypeError, match="x: expected a real"):
        op.A(x.to(torch.complex64))
    with pytest.raises(StochRobustTypeError, match="x: expected a torch.Tensor"):
        op.A(x.numpy())
    with pytest.raises(ShapeError, match="y: expected the shape of A"):
        op.project(x, y[:1])
    bad_y = y.clone()
    bad_y.view(-1)[0] = float("inf")
    with pytest.raises(NonFiniteError, match="y: expected finite"):
        op.A_pinv(bad_y)
    # check=False skips validation (no host sync): NaN propagates instead of raising
    assert bool(torch.isnan(op.project(bad, y, check=False)).any())
