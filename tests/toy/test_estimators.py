from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from stochrobust import Estimator, RangeError, ShapeError, StochRobustTypeError
from stochrobust.toy import (
    SQRT_FLOOR,
    DiskPosterior,
    SineDisk,
    Zigzag,
    disk_half_width,
    disk_posterior,
    disk_posterior_estimator,
    sample_disk,
    sine_disk,
    sine_disk_estimator,
    uniform_seed_sampler,
    zigzag,
    zigzag_estimator,
)

ALPHAS = [0.0, 1.0, 5.0, 20.0, 50.0]


def grid(n: int = 2001, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.linspace(-1, 1, n, dtype=dtype).unsqueeze(1)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_sine_disk_is_consistent_inside_disk_and_matches_formula(alpha: float) -> None:
    y = grid()
    out = sine_disk(y, alpha)
    assert out.shape == (y.shape[0], 2)
    assert torch.equal(out[:, :1], y)
    assert (out.norm(dim=1) <= 1 + 1e-12).all()
    ref = np.sqrt(np.clip(1 - y[:, 0].numpy() ** 2, 0, None)) * np.sin(alpha * y[:, 0].numpy())
    np.testing.assert_allclose(out[:, 1].numpy(), ref, rtol=0, atol=1e-6)
    est = sine_disk_estimator(alpha)
    assert isinstance(est, Estimator) and not est.is_stochastic
    torch.testing.assert_close(est(y), out)


@given(y=st.floats(-1, 1), alpha=st.floats(0, 100))
def test_sine_disk_output_in_disk_property(y: float, alpha: float) -> None:
    out = sine_disk(torch.tensor([[y]], dtype=torch.float64), alpha)
    assert float(out.norm()) <= 1 + 1e-12
    assert float(out[0, 0]) == y


def test_zigzag_matches_arccos_form_and_stays_in_square() -> None:
    y = torch.rand(5000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for f in (1, 2, 3, 10, 37):
        out = zigzag(y, f)
        ref = np.arccos(np.cos(2 * math.pi * f * y[:, 0].numpy())) / math.pi
        np.testing.assert_allclose(out[:, 1].numpy(), ref, rtol=0, atol=1e-9)
        assert torch.equal(out[:, :1], y)
        assert float(out[:, 1].min()) >= 0 and float(out[:, 1].max()) <= 1
        torch.testing.assert_close(zigzag_estimator(f)(y), out)


def test_zigzag_pushes_uniform_y_to_uniform_second_coordinate() -> None:
    # G_f maps U[0, 1] onto U[0, 1] (each tooth is a linear map of slope ±2f) — App. C.
    y = torch.rand(20000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert stats.kstest(zigzag(y, 5)[:, 1].numpy(), "uniform").pvalue > 1e-3


def test_disk_half_width_floor_and_value() -> None:
    y = torch.tensor([-2.0, -1.0, -0.6, 0.0, 0.6, 1.0, 1.5], dtype=torch.float64)
    h = disk_half_width(y)
    expect = [math.sqrt(SQRT_FLOOR), math.sqrt(SQRT_FLOOR), 0.8, 1.0, 0.8]
    expect += [math.sqrt(SQRT_FLOOR)] * 2
    np.testing.assert_allclose(h.numpy(), expect, rtol=1e-12)


def test_posterior_sampler_conditional_law() -> None:
    est = disk_posterior_estimator()
    assert est.is_stochastic
    gen = torch.Generator().manual_seed(2)
    y = torch.tensor([[-0.95], [-0.3], [0.0], [0.8]], dtype=torch.float64)
    s = est.sample(y, 4000, generator=gen)
    assert s.shape == (4, 4000, 2)
    assert torch.equal(s[..., 0], y.expand(4, 4000))
    for b in range(4):
        h = math.sqrt(1 - float(y[b]) ** 2)
        x2 = s[b, :, 1].numpy()
        assert np.abs(x2).max() <= h + 1e-12
        # X⁽²⁾ | Y = y ~ U[−h, h]
        assert stats.kstest(x2, stats.uniform(loc=-h, scale=2 * h).cdf).pvalue > 1e-3


def test_posterior_sampler_has_the_data_law() -> None:
    # Thm. 3.1: Y ~ p_Y and one posterior draw per Y gives X̂ ~ p_X (uniform on the disk).
    gen = torch.Generator().manual_seed(3)
    _, y = sample_disk(20000, generator=gen, dtype=torch.float64)
    xh = disk_posterior_estimator().sample(y, 1, generator=gen)[:, 0]
    r2 = (xh**2).sum(1).numpy()
    assert stats.kstest(r2, "uniform").pvalue > 1e-3
    angle = (np.arctan2(xh[:, 1].numpy(), xh[:, 0].numpy()) + math.pi) / (2 * math.pi)
    assert stats.kstest(angle, "uniform").pvalue > 1e-3


def test_posterior_fixed_seed_map() -> None:
    y = torch.tensor([[0.6], [0.6], [0.0]])
    z = torch.tensor([[0.0], [0.5], [0.75]])
    torch.testing.assert_close(
        disk_posterior(y, z), torch.tensor([[0.6, -0.8], [0.6, 0.0], [0.0, 0.5]])
    )
    torch.testing.assert_close(DiskPosterior()(y, z), disk_posterior(y, z))


def test_uniform_seed_sampler_law_and_reproducibility(dtype, device) -> None:
    y = torch.zeros(2, 1, dtype=dtype, device=device)
    z = uniform_seed_sampler(20000, y, torch.Generator().manual_seed(4))
    assert z.shape == (20000, 1) and z.dtype == dtype and z.device.type == device.type
    assert stats.kstest(z[:, 0].double().cpu().numpy(), "uniform").pvalue > 1e-3
    again = uniform_seed_sampler(20000, y, torch.Generator().manual_seed(4))
    assert torch.equal(z, again)


def test_same_generator_same_posterior_samples() -> None:
    est = disk_posterior_estimator()
    y = torch.zeros(3, 1)
    a = est.sample(y, 5, generator=torch.Generator().manual_seed(9))
    b = est.sample(y, 5, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda y: sine_disk(y, 50.0),
        lambda y: zigzag(y, 7),
        lambda y: disk_posterior(y, torch.full_like(y, 0.9)),
    ],
    ids=["sine_disk", "zigzag", "posterior"],
)
def test_gradients_finite_everywhere_including_edges(fn) -> None:
    y = torch.tensor(
        [[-1.5], [-1.0], [-1 + 1e-9], [-0.5], [0.0], [0.25], [1 - 1e-9], [1.0], [2.0]],
        dtype=torch.float64,
        requires_grad=True,
    )
    fn(y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_gradients_match_closed_form() -> None:
    y = torch.tensor([[-0.7], [0.1], [0.55]], dtype=torch.float64, requires_grad=True)
    alpha = 20.0
    (g,) = torch.autograd.grad(sine_disk(y, alpha)[:, 1].sum(), y)
    yy = y.detach()
    h = torch.sqrt(1 - yy**2)
    ref = -yy / h * torch.sin(alpha * yy) + alpha * h * torch.cos(alpha * yy)
    torch.testing.assert_close(g, ref)
    # Zigzag slope is ±2f; posterior slope is (2z − 1)·(−y/h).
    (gz,) = torch.autograd.grad(zigzag(y, 3)[:, 1].sum(), y)
    torch.testing.assert_close(gz.abs(), torch.full_like(gz, 6.0))
    z = torch.tensor([[0.1], [0.5], [1.0]], dtype=torch.float64)
    (gp,) = torch.autograd.grad(disk_posterior(y, z)[:, 1].sum(), y)
    torch.testing.assert_close(gp, (2 * z - 1) * (-yy / h))


def test_gradcheck_inside_disk() -> None:
    y = torch.tensor([[-0.9], [-0.2], [0.3], [0.95]], dtype=torch.float64, requires_grad=True)
    z = torch.rand(4, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: sine_disk(t, 5.0), (y,))
    assert torch.autograd.gradcheck(lambda t: disk_posterior(t, z), (y,))
    assert torch.autograd.gradcheck(lambda t: zigzag(t, 2), (y * 0.2 + 0.3,))


def test_bad_arguments() -> None:
    y = torch.zeros(2, 1)
    with pytest.raises(RangeError, match="alpha"):
        sine_disk(y, -1.0)
    with pytest.raises(RangeError, match="alpha"):
        SineDisk(-0.5)
    with pytest.raises(RangeError, match="alpha"):
        sine_disk_estimator(-2.0)
    with pytest.raises(StochRobustTypeError, match="alpha"):
        sine_disk(y, "5")  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="f"):
        zigzag(y, 0)
    with pytest.raises(StochRobustTypeError, match="f: expected an integer"):
        Zigzag(2.5)  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="f"):
        zigzag_estimator(-1)
    with pytest.raises(ShapeError, match=r"y: expected a \(B, 1\)"):
        sine_disk(torch.zeros(2), 1.0)
    with pytest.raises(ShapeError, match="y"):
        zigzag(torch.zeros(2, 2), 1)
    with pytest.raises(ShapeError, match="z"):
        disk_posterior(y, torch.zeros(3, 1))
    with pytest.raises(StochRobustTypeError, match="y"):
        sine_disk(torch.zeros(2, 1, dtype=torch.int64), 1.0)
    with pytest.raises(RangeError, match="batch_size"):
        uniform_seed_sampler(-1, y)
    with pytest.raises(StochRobustTypeError, match="generator"):
        uniform_seed_sampler(1, y, generator=3)  # type: ignore[arg-type]


def test_modules_repr_and_device(device) -> None:
    assert "alpha=50" in repr(SineDisk(50))
    assert "f=4" in repr(Zigzag(4))
    y = torch.zeros(3, 1, device=device)
    assert sine_disk_estimator(5.0)(y).device.type == device.type
    s = disk_posterior_estimator().sample(y, 2, generator=torch.Generator().manual_seed(0))
    assert s.device.type == device.type
