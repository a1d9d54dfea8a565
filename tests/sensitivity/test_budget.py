from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stochrobust import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.metrics import psnr
from stochrobust.sensitivity import eps_for_psnr, psnr_for_eps


@pytest.mark.parametrize(
    ("shape", "target", "expected"),
    [
        ((3, 64, 64), 32.9, 2.5),  # inpainting, [O23] App. E.2.3
        ((3, 16, 16), 34.0, 0.553),  # SR x4
        ((3, 8, 8), 34.0, 0.276),  # SR x8
        ((3, 4, 4), 34.0, 0.138),  # SR x16
    ],
)
def test_paper_radii(shape, target, expected) -> None:
    assert eps_for_psnr(shape, target) == pytest.approx(expected, rel=5e-3)


@given(
    shape=st.lists(st.integers(1, 64), min_size=1, max_size=4),
    target=st.floats(-20, 80),
    data_range=st.floats(0.01, 255),
)
def test_psnr_for_eps_inverts_eps_for_psnr(shape, target, data_range) -> None:
    eps = eps_for_psnr(shape, target, data_range, per_sample=True)
    assert psnr_for_eps(shape, eps, data_range, per_sample=True) == pytest.approx(target, abs=1e-9)


def test_a_batch_shape_is_never_folded_into_eps_silently() -> None:
    # The trap of issue 14: eps_for_psnr(y.shape, 34) with B = 4 gave 2 * 0.553.
    y = torch.rand(4, 3, 16, 16)
    with pytest.raises(ShapeError, match=r"looks like a batch.*y.shape\[1:\]"):
        eps_for_psnr(y.shape, 34.0)
    with pytest.raises(ShapeError, match="looks like a batch"):
        psnr_for_eps(y.shape, 0.5)
    per_input = math.sqrt(3 * 16 * 16) * 10 ** (-34 / 20)  # closed form, one input
    assert eps_for_psnr(y, 34.0) == pytest.approx(per_input, rel=1e-12)
    assert eps_for_psnr(y.shape, 34.0, per_sample=False) == pytest.approx(per_input, rel=1e-12)
    assert eps_for_psnr(y.shape, 34.0, per_sample=True) == pytest.approx(2 * per_input)
    vectors = torch.rand(5, 7)  # (B, D): the tensor form is the unambiguous one
    assert eps_for_psnr(vectors, 20.0) == pytest.approx(math.sqrt(7) * 0.1, rel=1e-12)
    with pytest.raises(ShapeError, match="batch tensor"):
        eps_for_psnr(torch.rand(7), 20.0)
    with pytest.raises(StochRobustTypeError, match="per_sample"):
        eps_for_psnr((3, 4), 20.0, per_sample="yes")  # type: ignore[arg-type]


def test_a_perturbation_on_the_sphere_has_exactly_the_target_psnr() -> None:
    y = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    d = torch.randn_like(y)
    eps = eps_for_psnr((3, 16, 16), 34.0)
    d = d / d.norm() * eps
    assert float(psnr(y + d, y)) == pytest.approx(34.0, abs=1e-9)


def test_budget_errors_and_edge_cases() -> None:
    assert math.isinf(psnr_for_eps((3, 4, 4), 0.0))
    with pytest.raises(RangeError):
        psnr_for_eps((3, 4, 4), -1.0)
    with pytest.raises(RangeError):
        eps_for_psnr((3, 0, 4), 30.0)
    with pytest.raises(RangeError):
        eps_for_psnr((3, 4, 4), 30.0, data_range=0.0)
    with pytest.raises(NonFiniteError):
        eps_for_psnr((3, 4, 4), math.inf)
    with pytest.raises(StochRobustTypeError):
        eps_for_psnr(12, 30.0)  # type: ignore[arg-type]
    assert eps_for_psnr(torch.Size([3, 4, 4]), 30.0) == eps_for_psnr((3, 4, 4), 30.0)
