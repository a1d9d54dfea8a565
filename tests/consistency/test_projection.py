from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stochrobust as sr
from stochrobust import ModelError, NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.consistency import (
    AvgPoolDownsample,
    BlurDownsample,
    Colorization,
    Consistent,
    Inpainting,
    PartialCirculant,
    consistency_psnr,
    is_consistent,
    project,
)


class TinyUNet(nn.Module):
    """A random, untrained two-level U-Net with a skip connection and BatchNorm.

    Stochastic when ``z`` is given (concatenated to the input channels, as in [O23]).
    """

    def __init__(self, c_in: int, c_out: int, width: int = 6) -> None:
        super().__init__()
        self.enc = nn.Conv2d(c_in, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.out = nn.Conv2d(2 * width, c_out, 3, padding=1)

    def forward(self, u: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is not None:
            u = torch.cat([u, z], dim=1)
        e = F.relu(self.bn(self.enc(u)))
        d = self.up(F.relu(self.mid(F.relu(self.down(e)))))
        return torch.sigmoid(self.out(torch.cat([e, d], dim=1)))


def faces(n: int = 3, size: int = 64, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Smooth random images in [0, 1] (stand-ins for CelebA crops)."""
    gen = torch.Generator().manual_seed(0)
    low = torch.rand(n, 3, size // 8, size // 8, generator=gen, dtype=dtype)
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def paper_inpainting_mask(size: int = 64) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[3 * size // 4 :] = True  # the upper 3/4 is missing, the bottom 1/4 observed
    return mask


def test_inpainting_setup_of_the_paper_is_exactly_consistent() -> None:
    torch.manual_seed(0)
    net = TinyUNet(3, 3).eval()
    op = Inpainting(paper_inpainting_mask())
    x = faces()
    y = op.A(x)
    raw = net(y)
    assert not bool(is_consistent(raw, y, op).any())  # the bare network is not consistent
    x_hat = Consistent(net, op)(y)
    assert bool(is_consistent(x_hat, y, op).all())
    assert bool(torch.isinf(consistency_psnr(x_hat, y, op)).all())  # pasting is bit-exact
    assert torch.equal(x_hat[..., :48, :], raw[..., :48, :])  # the hole is the network's


@pytest.mark.parametrize("scale", [4, 8])
def test_sr_setup_of_the_paper_is_consistent(scale: int) -> None:
    torch.manual_seed(1)
    net = TinyUNet(3, 3).eval()
    op = AvgPoolDownsample(scale)
    x = faces()
    y = op.A(x)
    G = Consistent(net, op, upsample="nearest")
    x_hat = G(y)
    assert x_hat.shape == x.shape
    assert not bool(is_consistent(net(F.interpolate(y, scale_factor=scale)), y, op).any())
    assert bool(is_consistent(x_hat, y, op).all())
    assert bool((consistency_psnr(x_hat, y, op) > 90).all())  # float32 rounding only


def test_stochastic_model_inside_estimator_with_seeds() -> None:
    torch.manual_seed(2)
    net = TinyUNet(4, 3).train()  # the caller's mode; Estimator evaluates in eval mode
    op = AvgPoolDownsample(4)
    y = op.A(faces(2))
    est = sr.Estimator(Consistent(net, op, upsample="nearest"), seed_shape=(1, 64, 64))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    samples = est.sample(y, 5, generator=torch.Generator().manual_seed(3))
    again = est.sample(y, 5, generator=torch.Generator().manual_seed(3))
    assert samples.shape == (2, 5, 3, 64, 64)
    assert torch.equal(samples, again)  # same generator state, same result
    flat = samples.reshape(10, 3, 64, 64)
    assert bool(is_consistent(flat, y.repeat_interleave(5, dim=0), op).all())
    assert float((samples[:, 0] - samples[:, 1]).detach().abs().max()) > 1e-3  # seeds matter
    # the model's state is untouched: mode, parameters and BatchNorm statistics
    assert net.training and all(p.requires_grad for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_gradients_flow_to_the_model_and_to_the_input() -> None:
    torch.manual_seed(4)
    net = TinyUNet(4, 3)
    op = AvgPoolDownsample(4)
    y = op.A(faces(2)).requires_grad_(True)
    z = torch.randn(2, 1, 64, 64)
    loss = Consistent(net, op, upsample="nearest")(y, z).square().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name
    assert y.grad is not None and bool(y.grad.abs().sum() > 0)


def test_wrapper_does_only_what_calling_the_model_does() -> None:
    torch.manual_seed(5)
    net = TinyUNet(3, 3).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    wrapped = Consistent(net, Inpainting(paper_inpainting_mask(16)))
    y = torch.rand(2, 3, 16, 16)
    out = wrapped(y)
    assert not net.training and all(p.requires_grad for p in net.parameters())
    assert all(p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    # it is a module: the model's parameters are its parameters, and it equals the recipe
    assert {id(p) for p in wrapped.parameters()} == {id(p) for p in net.parameters()}
    assert torch.equal(out, torch.where(paper_inpainting_mask(16), y, net(y)))


def test_network_inputs() -> None:
    seen: list[torch.Tensor] = []

    def spy(u: torch.Tensor) -> torch.Tensor:
        seen.append(u)
        return torch.zeros(u.shape[0], 3, 8, 8, dtype=u.dtype)

    y = torch.rand(2, 3, 2, 2)
    out = Consistent(spy, AvgPoolDownsample(4), upsample="nearest")(y)
    assert torch.equal(seen[-1], y.repeat_interleave(4, -1).repeat_interleave(4, -2))
    torch.testing.assert_close(out, y.repeat_interleave(4, -1).repeat_interleave(4, -2))
    Consistent(spy, AvgPoolDownsample(4), upsample="pinv")(y)
    assert torch.equal(seen[-1], seen[-2])  # A⁺ of plain averaging is nearest upsampling
    gray = torch.rand(2, 1, 8, 8)
    Consistent(spy, Colorization(), upsample="pinv")(gray)
    torch.testing.assert_close(seen[-1], gray.expand(2, 3, 8, 8))
    Consistent(spy, Colorization(), upsample="nearest")(gray)
    assert torch.equal(seen[-1], gray)  # same spatial size: fed as is


@pytest.mark.parametrize("kind", ["blur", "colorization", "circulant"])
def test_other_operators_make_consistent_generators(kind: str, dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    x = faces(2, 32, dtype)
    if kind == "blur":
        k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
        op: sr.consistency.LinearOperator = BlurDownsample(torch.outer(k, k) / 256, 2)
        net: nn.Module = TinyUNet(3, 3)
        upsample = "nearest"
    elif kind == "colorization":
        op, net, upsample = Colorization(), TinyUNet(1, 3), None
    else:
        op = PartialCirculant((3, 32, 32), 300, generator=torch.Generator().manual_seed(0))
        net, upsample = TinyUNet(3, 3), "pinv"
    G = Consistent(net.to(dtype).eval(), op, upsample=upsample)  # type: ignore[arg-type]
    y = op.A(x)
    x_hat = G(y)
    assert x_hat.dtype == dtype and x_hat.shape == x.shape
    assert bool(is_consistent(x_hat, y, op).all())
    assert bool(
        is_consistent(x_hat, y, op, psnr_db=80.0 if dtype == torch.float32 else 200.0).all()
    )


def test_consistent_keeps_dtype_and_device(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(7)
    net = TinyUNet(3, 3).to(device, dtype).eval()
    G = Consistent(net, AvgPoolDownsample(4), upsample="nearest").to(device)
    y = torch.rand(2, 3, 8, 8, device=device, dtype=dtype)
    out = G(y)
    assert out.dtype == dtype and out.device.type == device.type
    assert bool(is_consistent(out, y, AvgPoolDownsample(4)).all())


def test_project_function() -> None:
    op = BlurDownsample(torch.ones(3, 3) / 9, 2)
    x, y = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 4, 4)
    assert torch.equal(project(x, y, op), op.project(x, y))
    with pytest.raises(StochRobustTypeError, match="op: expected a stochrobust.consistency"):
        project(x, y, lambda t: t)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="y: expected the shape of A"):
        project(x, y[..., :3], op)
    with pytest.raises(NonFiniteError, match="x"):
        project(torch.full_like(x, math.nan), y, op)


def test_consistency_psnr_against_the_closed_form() -> None:
    op = AvgPoolDownsample(2)
    y = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    c = torch.tensor([10 ** (-44 / 20), 10 ** (-46 / 20), 0.0], dtype=torch.float64)
    x_hat = op.A_pinv(y) + c.reshape(3, 1, 1, 1)  # A x̂ = y + c: MSE = c²
    psnr_db = consistency_psnr(x_hat, y, op)
    torch.testing.assert_close(psnr_db[:2], torch.tensor([44.0, 46.0], dtype=torch.float64))
    assert math.isinf(float(psnr_db[2]))
    assert is_consistent(x_hat, y, op).tolist() == [False, True, True]
    assert is_consistent(x_hat, y, op, psnr_db=43.0).tolist() == [True, True, True]
    # data_range scales the peak: 2x the range = +6.02 dB
    torch.testing.assert_close(
        consistency_psnr(x_hat, y, op, data_range=2.0)[:2], psnr_db[:2] + 20 * math.log10(2)
    )
    # compressed-sensing measurements are vectors: PSNR per row
    cs = PartialCirculant((1, 4, 4), 6, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 4, 4)
    assert consistency_psnr(x, cs.A(x), cs).shape == (2,)


def test_inpainting_psnr_counts_only_the_observed_pixels() -> None:
    gen = torch.Generator().manual_seed(9)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[0, :, 6:] = True  # sample 0 observes its bottom quarter, sample 1 nothing
    op = Inpainting(mask)
    x = torch.rand(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 3, 8, 8, generator=gen, dtype=torch.float64)  # garbage where missing
    x_hat = torch.where(
        mask, y + 0.01 * torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64), x
    )
    observed = (x_hat[0, :, 6:] - y[0, :, 6:]).pow(2).mean()
    got = consistency_psnr(x_hat, y, op)
    torch.testing.assert_close(got[0], -10 * torch.log10(observed))
    assert math.isinf(float(got[1]))  # nothing observed: vacuously consistent
    assert is_consistent(x_hat, y, op).tolist() == [False, True]


def test_bad_inputs() -> None:
    op = AvgPoolDownsample(2)
    with pytest.raises(StochRobustTypeError, match="model: expected a callable"):
        Consistent(3, op)  # type: ignore[arg-type]
    with pytest.raises(StochRobustTypeError, match="op: expected"):
        Consistent(nn.Identity(), nn.Identity())  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="upsample: expected None or one of"):
        Consistent(nn.Identity(), op, upsample="bilinear")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"model: expected an output of shape \(1, 1, 4, 4\)"):
        Consistent(nn.Identity(), op)(torch.rand(1, 1, 2, 2))  # no upsampling: wrong size
    with pytest.raises(ModelError, match="model: expected an output"):
        Consistent(lambda u: u.tolist(), op, upsample="nearest")(torch.rand(1, 1, 2, 2))
    with pytest.raises(ShapeError, match="y: expected a 4-D"):
        Consistent(nn.Identity(), op)(torch.rand(2, 2))
    cs = PartialCirculant((1, 4, 4), 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ShapeError, match="upsample='nearest'"):
        Consistent(nn.Identity(), cs, upsample="nearest")(torch.rand(2, 6))
    x_hat = torch.rand(2, 1, 4, 4)
    with pytest.raises(ShapeError, match="y: expected the shape of A"):
        consistency_psnr(x_hat, torch.rand(2, 1, 4, 4), op)
    with pytest.raises(ShapeError, match="x_hat: expected"):
        is_consistent(torch.rand(2, 1, 5, 4), torch.rand(2, 1, 2, 2), op)
    with pytest.raises(NonFiniteError, match="psnr_db"):
        is_consistent(x_hat, op.A(x_hat), op, psnr_db=math.nan)
    with pytest.raises(RangeError, match="data_range"):
        consistency_psnr(x_hat, op.A(x_hat), op, data_range=0.0)
