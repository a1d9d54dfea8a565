from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stochrobust import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.consistency import AvgPoolDownsample, Colorization, Inpainting

F64 = torch.float64


# ---------------------------------------------------------------- inpainting
def test_inpainting_pastes_the_observed_pixels_exactly() -> None:
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[6:] = True  # the paper: the upper 3/4 masked, the bottom 1/4 observed
    op = Inpainting(mask)
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    p = op.project(x, y)
    assert torch.equal(p[..., 6:, :], y[..., 6:, :])
    assert torch.equal(p[..., :6, :], x[..., :6, :])
    assert torch.equal(op.A(y), y * mask)
    assert torch.equal(op.A_adjoint(y), op.A(y)) and torch.equal(op.A_pinv(y), op.A(y))


@pytest.mark.parametrize(
    "mshape", [(5, 6), (3, 5, 6), (1, 3, 5, 6), (2, 1, 5, 6), (2, 3, 5, 6), (1, 6), (5, 1)]
)
def test_inpainting_mask_broadcasting(mshape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(1)
    mask = (torch.rand(mshape, generator=gen) < 0.5).to(torch.float32)  # float 0/1 accepted
    op = Inpainting(mask)
    x = torch.rand(2, 3, 5, 6, generator=gen)
    torch.testing.assert_close(op.A(x), x * mask, rtol=0, atol=0)
    # a per-sample mask (leading dim 2) does not broadcast to a batch of 3
    if len(mshape) == 4 and mshape[0] == 2:
        with pytest.raises(ShapeError, match="broadcasts to"):
            op.A(torch.rand(3, 3, 5, 6))


def test_inpainting_bad_masks() -> None:
    with pytest.raises(ShapeError, match="broadcasts to"):
        Inpainting(torch.ones(4, 4)).A(torch.rand(1, 1, 5, 4))
    with pytest.raises(ShapeError, match="broadcasts to"):
        Inpainting(torch.ones(2, 4, 4)).A(torch.rand(1, 3, 4, 4))
    with pytest.raises(ShapeError, match="mask: expected a 2-D to 4-D"):
        Inpainting(torch.ones(4))
    with pytest.raises(RangeError, match="mask: expected only 0 and 1"):
        Inpainting(torch.full((4, 4), 0.5))
    with pytest.raises(NonFiniteError, match="mask"):
        Inpainting(torch.full((4, 4), float("nan")))
    with pytest.raises(StochRobustTypeError, match="mask: expected a torch.Tensor"):
        Inpainting([[1, 0]])  # type: ignore[arg-type]


def test_inpainting_mask_buffer_survives_dtype_moves() -> None:
    op = Inpainting(torch.eye(3)).to(torch.float64)
    assert op.mask.dtype == torch.bool
    assert "mask" in op.state_dict()


# ---------------------------------------------------------------- averaging SR
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_avgpool_matches_torch_pooling_and_nearest_upsampling(scale: int) -> None:
    op = AvgPoolDownsample(scale)
    x = torch.rand(2, 3, 4 * scale, 3 * scale, dtype=F64)
    torch.testing.assert_close(op.A(x), F.avg_pool2d(x, scale), rtol=1e-14, atol=1e-14)
    y = torch.rand(2, 3, 4, 3, dtype=F64)
    up = F.interpolate(y, scale_factor=scale, mode="nearest")
    assert torch.equal(op.A_pinv(y), up)
    torch.testing.assert_close(op.A_adjoint(y), up / scale**2, rtol=0, atol=0)
    torch.testing.assert_close(op.A(op.A_pinv(y)), y, rtol=1e-15, atol=1e-15)  # A A⁺ = I


def test_avgpool_bad_scales_and_sizes() -> None:
    with pytest.raises(StochRobustTypeError, match="scale: expected an integer"):
        AvgPoolDownsample(2.0)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="scale: expected an integer >= 1"):
        AvgPoolDownsample(0)
    with pytest.raises(RangeError, match="scale"):
        AvgPoolDownsample(-2)
    with pytest.raises(ShapeError, match="divisible by the scale 4"):
        AvgPoolDownsample(4).A(torch.rand(1, 1, 8, 6))
    with pytest.raises(ShapeError, match="y: expected a 4-D"):
        AvgPoolDownsample(4).A_adjoint(torch.rand(1, 8, 6))


# ---------------------------------------------------------------- colorization
def test_colorization_is_the_channel_mean_with_replicating_pinv() -> None:
    op = Colorization()
    x = torch.rand(2, 3, 4, 5, dtype=F64)
    torch.testing.assert_close(op.A(x), x.mean(dim=1, keepdim=True), rtol=1e-15, atol=1e-15)
    y = torch.rand(2, 1, 4, 5, dtype=F64)
    torch.testing.assert_close(op.A_pinv(y), y.expand(2, 3, 4, 5), rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(op.A_adjoint(y), y.expand(2, 3, 4, 5) / 3, rtol=1e-15, atol=1e-15)
    # luminance weights: A A⁺ = I still
    luma = Colorization([0.299, 0.587, 0.114])
    torch.testing.assert_close(luma.A(luma.A_pinv(y)), y, rtol=1e-14, atol=1e-14)


def test_colorization_bad_weights_and_shapes() -> None:
    with pytest.raises(RangeError, match="non-zero"):
        Colorization([0.0, 0.0])
    with pytest.raises(ShapeError, match="weights"):
        Colorization(torch.ones(2, 2))
    with pytest.raises(NonFiniteError, match="weights"):
        Colorization([1.0, float("nan")])
    with pytest.raises(StochRobustTypeError, match="weights"):
        Colorization("rgb")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"x: expected a 4-D shape \(N, 3, H, W\)"):
        Colorization().A(torch.rand(1, 1, 4, 4))
    with pytest.raises(ShapeError, match=r"y: expected a 4-D shape \(N, 1, H, W\)"):
        Colorization().A_pinv(torch.rand(1, 3, 4, 4))
