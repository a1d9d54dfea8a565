"""SSIM's window and downsampling options against an independent implementation.

The reference follows Wang et al. 2004 directly: a normalised Gaussian window of side
``kernel_size`` and standard deviation ``kernel_sigma``, "valid" filtering per channel,
``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with ``L = data_range``, the mean of the SSIM map
per channel then over channels; with ``downsample`` images are first average-pooled by
``f = max(1, round(min(H, W) / 256))`` (the reference MATLAB code's rule).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stochrobust.metrics import ssim

F64 = torch.float64


def reference_ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float, size: int, sigma: float, down: bool
) -> torch.Tensor:
    if down:
        f = max(1, round(min(x.shape[-2:]) / 256))
        if f > 1:
            x, y = F.avg_pool2d(x, f), F.avg_pool2d(y, f)
    coords = torch.arange(size, dtype=F64) - (size - 1) / 2
    g1 = torch.exp(-(coords**2) / (2 * sigma**2))
    win = torch.outer(g1, g1)
    win = (win / win.sum()).expand(x.shape[1], 1, size, size)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=x.shape[1])

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return smap.mean(dim=(-2, -1)).mean(dim=1)


@pytest.mark.parametrize(
    ("size", "sigma", "data_range"), [(11, 1.5, 1.0), (7, 0.8, 255.0), (3, 3.0, 2.0)]
)
def test_ssim_window_options_match_the_reference(size, sigma, data_range) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 20, generator=g, dtype=F64) * data_range
    y = (x + 0.1 * data_range * torch.randn(x.shape, generator=g, dtype=F64)).clamp(0, data_range)
    got = ssim(x, y, data_range=data_range, kernel_size=size, kernel_sigma=sigma)
    ref = reference_ssim(x, y, data_range, size, sigma, down=True)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("downsample", [True, False])
def test_ssim_downsample_of_large_images(downsample) -> None:
    """384×400: pooled by 2 first when ``downsample`` (the default), not otherwise."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 384, 400, generator=g, dtype=F64)
    y = (x + 0.2 * torch.randn(x.shape, generator=g, dtype=F64)).clamp(0, 1)
    got = ssim(x, y, downsample=downsample, kernel_size=3, kernel_sigma=1.0)
    torch.testing.assert_close(
        got, reference_ssim(x, y, 1.0, 3, 1.0, down=downsample), rtol=1e-6, atol=1e-8
    )
    other = reference_ssim(x, y, 1.0, 3, 1.0, down=not downsample)
    assert float((got - other).abs().max()) > 1e-4  # 100× the tolerance: the option matters


@pytest.mark.parametrize("keep_fraction", [0.5, 0.3])
def test_realism_keeps_the_ceiling_of_the_fraction_of_balls(keep_fraction) -> None:
    """Seven real points: ``keep_fraction = 0.5`` keeps ``⌈3.5⌉ = 4`` balls, 0.3 keeps 3.

    Brute force: radius = distance to the 2nd nearest other real point; the score of a
    fake point is the largest radius/distance ratio over the kept (smallest) balls.
    """
    from stochrobust.metrics import realism_score

    g = torch.Generator().manual_seed(3)
    real = torch.randn(7, 2, generator=g, dtype=F64)
    fake = 2 * torch.randn(9, 2, generator=g, dtype=F64)
    d_rr = torch.cdist(real, real)
    d_rr.fill_diagonal_(float("inf"))
    radii = d_rr.sort(dim=1).values[:, 1]  # k = 2
    kept = radii.argsort()[: {0.5: 4, 0.3: 3}[keep_fraction]]
    expected = (radii[kept] / torch.cdist(fake, real[kept])).amax(dim=1)
    got = realism_score(real, fake, k=2, keep_fraction=keep_fraction)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
