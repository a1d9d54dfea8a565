from __future__ import annotations

import re
import warnings

import pytest
import torch

from stochrobust import RangeError, StochRobustTypeError
from stochrobust.smoothing import MedianSmoothing, certify_percentile
from stochrobust.testing import assert_certified


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))


def test_identity_is_certified_and_widths_match_the_certificate(x) -> None:
    smooth = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
    cert = assert_certified(smooth, x, 0.1, n_samples=300, max_width=1.0)
    assert bool(cert.certified.all())
    ref = certify_percentile(
        torch.nn.Identity(), x, 0.1, 0.25, n_samples=300, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(cert.lower, ref.lower) and torch.equal(cert.upper, ref.upper)
    widths = (ref.upper - ref.lower).flatten(1)
    tight = float(widths.max()) * 0.9
    with pytest.raises(AssertionError) as info:
        assert_certified(smooth, x, 0.1, n_samples=300, max_width=tight)
    msg = str(info.value)
    assert f"max interval width {float(widths.max()):.4g} > max_width {tight:.4g}" in msg
    rows = re.findall(r"\[(\d)\] (\S+) \| (\S+) \| (\S+)", msg)
    assert len(rows) == 3
    for i, frac, mean_w, max_w in rows:
        assert float(frac) == 1.0
        assert float(mean_w) == pytest.approx(float(widths[int(i)].mean()), rel=1e-3)
        assert float(max_w) == pytest.approx(float(widths[int(i)].max()), rel=1e-3)
    assert float(rows[0][3]) == pytest.approx(float(widths.max()), rel=1e-3)  # widest first
    with pytest.raises(AssertionError, match="mean interval width"):
        assert_certified(smooth, x, 0.1, n_samples=300, max_mean_width=float(widths.mean()) * 0.9)


def test_uncertifiable_reports_fraction_and_reason_without_warning(x) -> None:
    # docs/smoothing.md: (n, eps, sigma) = (100, 0.5, 0.25) certifies neither side
    smooth = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AssertionError) as info:
            assert_certified(smooth, x, 0.5, n_samples=100, alpha=1e-3)
    msg = str(info.value)
    assert "certified fraction 0 < min_fraction 1" in msg
    assert "(k_low, k_up) = (None, None)" in msg and "not certifiable:" in msg
    assert "n = 100" in msg and "sigma = 0.25" in msg and "eps = 0.5" in msg
    # nothing required: passes
    assert_certified(smooth, x, 0.5, n_samples=100, min_fraction=0.0)


def test_width_of_constant_and_amplifying_pixels() -> None:
    # f is constant on one column and amplifies the noise 1000x on the other: every pixel is
    # certified (the order statistics do not depend on f), widths 0 and > 0.5
    x = torch.zeros(2, 1, 2, 2)
    smooth = MedianSmoothing(lambda t: t * torch.tensor([[0.0, 1e3], [0.0, 1e3]]), sigma=0.1)
    with pytest.raises(AssertionError, match=r"max interval width .* > max_width 0\.5"):
        assert_certified(smooth, x, 0.05, n_samples=200, max_width=0.5)
    cert = assert_certified(smooth, x, 0.05, n_samples=200, min_fraction=1.0)
    widths = (cert.upper - cert.lower)[:, 0]
    assert bool((widths[:, :, 0] == 0).all()) and bool((widths[:, :, 1] > 0.5).all())


def test_given_certificate(x) -> None:
    cert = certify_percentile(
        torch.nn.Identity(), x, 0.1, 0.25, n_samples=300, generator=torch.Generator().manual_seed(1)
    )
    assert assert_certified(cert, max_width=10.0) is cert
    with pytest.raises(StochRobustTypeError, match="x, eps: expected None"):
        assert_certified(cert, x, 0.1)


def test_type_and_range_errors(x) -> None:
    with pytest.raises(StochRobustTypeError, match="MedianSmoothing"):
        assert_certified(torch.nn.Identity(), x, 0.1)  # type: ignore[arg-type]
    smooth = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
    with pytest.raises(StochRobustTypeError, match="x, eps"):
        assert_certified(smooth, x)
    with pytest.raises(RangeError, match="min_fraction"):
        assert_certified(smooth, x, 0.1, min_fraction=1.5)
    with pytest.raises(RangeError, match="max_width"):
        assert_certified(smooth, x, 0.1, max_width=-1.0)
