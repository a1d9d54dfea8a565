from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from stochrobust import Estimator, ShapeError, StochRobustTypeError
from stochrobust.consistency import AvgPoolDownsample, Consistent, Inpainting, consistency_psnr
from stochrobust.testing import assert_consistent


def lr_and_upsampled(seed: int = 0):
    y = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return y, F.interpolate(y, scale_factor=2, mode="nearest")  # A(nearest(y)) = y exactly


def test_consistent_restorations_pass_and_return_psnr() -> None:
    y, x = lr_and_upsampled()
    psnrs = assert_consistent(x, y, AvgPoolDownsample(2))
    assert psnrs.shape == (4,) and bool(torch.isinf(psnrs).all())


def test_offset_restorations_fail_with_closed_form_psnr() -> None:
    # A(x + c) - y = c everywhere: PSNR = -20·log10(c); c = 0.01 -> 40 dB < 45, 0.001 -> 60 dB
    y, x = lr_and_upsampled()
    offsets = torch.tensor([0.001, 0.01, 0.001, 0.02], dtype=torch.float64)
    x_hat = x + offsets.reshape(-1, 1, 1, 1)
    with pytest.raises(AssertionError) as info:
        assert_consistent(x_hat, y, AvgPoolDownsample(2))
    msg = str(info.value)
    assert msg.startswith("stochrobust: 2 of 4 restorations are not consistent")
    assert "below 45.00 dB" in msg
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip().startswith("input ")]
    assert lines == [
        f"input 3: {-20 * math.log10(0.02):.2f} dB",
        f"input 1: {-20 * math.log10(0.01):.2f} dB",
    ]
    assert "AvgPoolDownsample" in msg
    # a laxer threshold passes
    assert_consistent(x_hat, y, AvgPoolDownsample(2), psnr_db=30.0)


def test_inpainting_counts_observed_pixels_only() -> None:
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[6:] = True
    op = Inpainting(mask)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    y = op.A(x)
    x_hat = x.clone()
    x_hat[:, :, :6] = 0.0  # missing pixels may be anything
    assert bool(torch.isinf(assert_consistent(x_hat, y, op)).all())


def test_deterministic_model() -> None:
    y, _ = lr_and_upsampled()
    op = AvgPoolDownsample(2)
    good = Consistent(lambda u: torch.tanh(u), op, upsample="nearest")
    psnrs = assert_consistent(good, y, op)
    assert psnrs.shape == (4, 1) and bool((psnrs > 100).all())
    with pytest.raises(AssertionError, match=r"4 of 4 restorations.*\n.*\n    input \d: "):
        assert_consistent(lambda u: F.interpolate(u, scale_factor=2) + 0.05, y, op)


def test_stochastic_model_lists_samples() -> None:
    # consistent except where the seed is large: a failure per (input, sample)
    y, _ = lr_and_upsampled(1)
    op = AvgPoolDownsample(2)

    def net(u, z):
        return F.interpolate(u, scale_factor=2) + 0.1 * z * (z.abs() > 1.5)

    est = Estimator(net, seed_shape=(1, 8, 8))
    gen = torch.Generator().manual_seed(3)
    with pytest.raises(AssertionError) as info:
        assert_consistent(est, y, op, n_samples=5, generator=gen)
    msg = str(info.value)
    # recompute the same samples independently
    samples = est.sample(y, 5, generator=torch.Generator().manual_seed(3))
    ref = consistency_psnr(samples.flatten(0, 1), y.repeat_interleave(5, 0), op).reshape(4, 5)
    bad = int((ref < 45).sum())
    assert f"{bad} of 20 restorations" in msg and "5 sample(s) per input, generator given" in msg
    b, k = divmod(int(ref.argmin()), 5)
    first = re.search(r"input (\d+), sample (\d+): (\S+) dB", msg)
    assert (int(first.group(1)), int(first.group(2))) == (b, k)
    assert float(first.group(3)) == pytest.approx(float(ref.min()), abs=0.01)


def test_errors() -> None:
    y, x = lr_and_upsampled()
    with pytest.raises(StochRobustTypeError, match="op"):
        assert_consistent(x, y, "avgpool")  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        assert_consistent(x[:, :, :6], y, AvgPoolDownsample(2))
