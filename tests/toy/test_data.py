from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from stochrobust import RangeError, StochRobustTypeError
from stochrobust.toy import (
    ELLIPSE_INNER,
    ELLIPSE_OUTER,
    ellipse_ring_area,
    sample_disk,
    sample_ellipse_ring,
    sample_square,
)

SAMPLERS = [sample_disk, sample_ellipse_ring, sample_square]
N = 20_000


def semicircle_cdf(y: np.ndarray) -> np.ndarray:
    """CDF of Y = X⁽¹⁾ for X uniform on the unit disk (density (2/π)·sqrt(1 − y²))."""
    y = np.clip(y, -1, 1)
    return 0.5 + (y * np.sqrt(1 - y**2) + np.arcsin(y)) / math.pi


def cap_area(a: float, b: float, c: float) -> float:
    """Area of {x₁ ≥ c} inside the ellipse with semi-axes (a, b), 0 ≤ c ≤ a."""
    phi = math.acos(c / a)
    return a * b * (phi - math.sin(phi) * math.cos(phi))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_shapes_consistency_and_dtype(sampler, dtype, device) -> None:
    x, y = sampler(37, generator=torch.Generator().manual_seed(0), dtype=dtype, device=device)
    assert x.shape == (37, 2) and y.shape == (37, 1)
    assert x.dtype == y.dtype == dtype and x.device.type == y.device.type == device.type
    torch.testing.assert_close(y[:, 0], x[:, 0], rtol=0, atol=0)
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_generator_state_same_samples(sampler) -> None:
    a = sampler(500, generator=torch.Generator().manual_seed(7))
    b = sampler(500, generator=torch.Generator().manual_seed(7))
    c = sampler(500, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_disk_law() -> None:
    x, y = sample_disk(N, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    r2 = (x**2).sum(1).numpy()
    assert r2.max() <= 1.0
    # Uniform on the disk <=> ‖X‖² ~ U[0, 1] and the angle ~ U[0, 2π), independent.
    assert stats.kstest(r2, "uniform").pvalue > 1e-3
    angle = (np.arctan2(x[:, 1].numpy(), x[:, 0].numpy()) + math.pi) / (2 * math.pi)
    assert stats.kstest(angle, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(r2, angle)[0, 1]) < 0.03
    assert stats.kstest(y[:, 0].numpy(), semicircle_cdf).pvalue > 1e-3
    # Moments: E[X] = 0, E[X₁²] = E[X₂²] = 1/4 (standard error ≈ 0.0015).
    torch.testing.assert_close(x.mean(0), torch.zeros(2, dtype=torch.float64), rtol=0, atol=0.015)
    torch.testing.assert_close(
        (x**2).mean(0), torch.full((2,), 0.25, dtype=torch.float64), rtol=0, atol=0.006
    )


def test_ellipse_ring_support_moments_and_caps() -> None:
    (a, b), (ai, bi) = ELLIPSE_OUTER, ELLIPSE_INNER
    x, _ = sample_ellipse_ring(N, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert x.shape == (N, 2)
    q_out = (x[:, 0] / a) ** 2 + (x[:, 1] / b) ** 2
    q_in = (x[:, 0] / ai) ** 2 + (x[:, 1] / bi) ** 2
    assert (q_out <= 1).all() and (q_in >= 1).all()
    # E[X₁²] of a uniform ellipse is a²/4; the ring is the difference of two ellipses.
    ring = ellipse_ring_area()
    ex1 = (math.pi * a * b * a**2 / 4 - math.pi * ai * bi * ai**2 / 4) / ring
    ex2 = (math.pi * a * b * b**2 / 4 - math.pi * ai * bi * bi**2 / 4) / ring
    m = (x**2).mean(0)
    assert abs(float(m[0]) - ex1) < 0.01 and abs(float(m[1]) - ex2) < 0.004
    # Mass beyond x₁ ≥ c for c outside the hole, and in the upper band over the hole.
    for c in (0.65, 0.8, 0.95):
        p = cap_area(a, b, c) / ring
        got = float((x[:, 0] >= c).double().mean())
        assert abs(got - p) < 4 * math.sqrt(p * (1 - p) / N) + 1e-3, (c, got, p)
    # Points with |x₁| < ai lie above or below the hole, never inside: both bands share mass.
    over = x[x[:, 0].abs() < ai]
    assert abs(float((over[:, 1] > 0).double().mean()) - 0.5) < 0.02


def test_ellipse_ring_custom_axes_and_area() -> None:
    assert ellipse_ring_area((2.0, 1.0), (1.0, 0.5)) == pytest.approx(1.5 * math.pi)
    x, _ = sample_ellipse_ring(
        4000, outer=(2.0, 1.0), inner=(1.0, 0.5), generator=torch.Generator().manual_seed(3)
    )
    assert x.shape == (4000, 2)
    assert float(x[:, 0].abs().max()) > 1.8 and float(x[:, 1].abs().max()) > 0.9
    # Proportional axes: the ring is the image of an annulus, so the "radius" q = (x/a)²+(y/b)²
    # is uniform on [s², 1] with s = 1/2.
    q = ((x[:, 0] / 2.0) ** 2 + x[:, 1] ** 2).double().numpy()
    assert stats.kstest(q, stats.uniform(loc=0.25, scale=0.75).cdf).pvalue > 1e-3


def test_square_law() -> None:
    x, _ = sample_square(N, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for j in range(2):
        assert stats.kstest(x[:, j].numpy(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(x[:, 0].numpy(), x[:, 1].numpy())[0, 1]) < 0.03
    assert float(x.min()) >= 0 and float(x.max()) <= 1


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_bad_arguments(sampler) -> None:
    with pytest.raises(RangeError, match="n: expected"):
        sampler(0)
    with pytest.raises(StochRobustTypeError, match="n: expected an integer"):
        sampler(2.5)
    with pytest.raises(StochRobustTypeError, match="generator"):
        sampler(3, generator=0)
    with pytest.raises(StochRobustTypeError, match="dtype"):
        sampler(3, dtype=torch.int64)


def test_ellipse_bad_axes() -> None:
    with pytest.raises(RangeError, match="inner"):
        sample_ellipse_ring(3, outer=(1.0, 0.5), inner=(1.0, 0.2))
    with pytest.raises(RangeError, match=r"outer\[1\]"):
        sample_ellipse_ring(3, outer=(1.0, -0.5))
    with pytest.raises(StochRobustTypeError, match="outer"):
        sample_ellipse_ring(3, outer=1.0)  # type: ignore[arg-type]
