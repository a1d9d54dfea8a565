"""Oracles for the result-changing options of smoothing (issue #20, item 1).

The noise is replayed from its documented layout (row ``b·n + k`` of one
``randn((B·n, *x.shape[1:]))`` draw), the base model is applied by hand, and order
statistics are read from a NumPy sort; certificate indices come from a direct scan of
the binomial conditions ([C24] Lemma 4.1, [Ch20] §4) with ``scipy.stats.binom.cdf``,
not from the library's tail formulation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from stochrobust.smoothing import (
    MedianSmoothing,
    certify_percentile,
    sample_noisy_outputs,
    smoothed_percentile,
)

F64 = torch.float64


class Counting:
    """Elementwise base model ``sin(3x) + x²`` that records the rows of every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return torch.sin(3 * x) + x.pow(2)


def replay(x: torch.Tensor, sigma: float, n: int, seed: int) -> np.ndarray:
    """``f(x + σg)`` for the documented noise layout, sorted along the sample axis."""
    g = torch.randn((x.shape[0] * n, *x.shape[1:]), generator=gen(seed), dtype=x.dtype)
    g = g.reshape(x.shape[0], n, *x.shape[1:])
    out = torch.sin(3 * (x[:, None] + sigma * g)) + (x[:, None] + sigma * g).pow(2)
    return np.sort(out.numpy(), axis=1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def scan_indices(n: int, eps: float, sigma: float, alpha: float, p: float):
    """(k̲, k̄) by scanning every k with the binomial CDF directly (None: no valid k)."""
    p_up = norm.cdf(norm.ppf(p) + eps / sigma)
    p_low = norm.cdf(norm.ppf(p) - eps / sigma)
    ks = np.arange(1, n + 1)
    up_ok = binom.cdf(ks - 1, n, p_up) >= 1 - alpha
    low_ok = 1 - binom.cdf(ks - 1, n, p_low) >= 1 - alpha
    upper = int(ks[up_ok].min()) if up_ok.any() else None
    lower = int(ks[low_ok].max()) if low_ok.any() else None
    return lower, upper


X = torch.rand(2, 3, generator=gen(0), dtype=F64)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.85])
def test_certificate_median_and_bounds_are_the_order_statistics_for_p(p) -> None:
    n, eps, sigma, alpha = 301, 0.05, 0.25, 1e-2
    cert = certify_percentile(
        Counting(), X, eps, sigma, n_samples=n, alpha=alpha, p=p, generator=gen(1)
    )
    ordered = replay(X, sigma, n, 1)
    k = math.ceil(p * n)  # X(⌈p·n⌉), 1-based
    np.testing.assert_allclose(cert.median.numpy(), ordered[:, k - 1], rtol=1e-12)
    lower, upper = scan_indices(n, eps, sigma, alpha, p)
    assert lower is not None and upper is not None and cert.indices == (lower, upper)
    np.testing.assert_allclose(cert.lower.numpy(), ordered[:, lower - 1], rtol=1e-12)
    np.testing.assert_allclose(cert.upper.numpy(), ordered[:, upper - 1], rtol=1e-12)
    assert cert.p == p and bool(cert.certified.all())


def test_simultaneous_certificate_splits_alpha_over_coordinates_and_sides() -> None:
    n, eps, sigma, alpha = 501, 0.05, 0.25, 0.06
    cert = certify_percentile(
        Counting(), X, eps, sigma, n_samples=n, alpha=alpha, simultaneous=True, generator=gen(2)
    )
    d = X.shape[1]
    assert math.isclose(cert.alpha_per_side, alpha / (2 * d))
    lower, upper = scan_indices(n, eps, sigma, alpha / (2 * d), 0.5)
    assert cert.indices == (lower, upper) != scan_indices(n, eps, sigma, alpha, 0.5)
    ordered = replay(X, sigma, n, 2)
    assert lower is not None and upper is not None
    np.testing.assert_allclose(cert.lower.numpy(), ordered[:, lower - 1], rtol=1e-12)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_smoothed_percentile_is_the_order_statistic_for_p(p) -> None:
    n = 20
    out = smoothed_percentile(Counting(), X, 0.3, p, n_samples=n, generator=gen(3))
    ordered = replay(X, 0.3, n, 3)
    np.testing.assert_allclose(out.numpy(), ordered[:, math.ceil(p * n) - 1], rtol=1e-12)


def test_clip_clamps_every_output_before_the_percentile() -> None:
    lo, hi = 0.2, 0.6
    n = 15
    out = smoothed_percentile(Counting(), X, 0.4, 0.5, n, generator=gen(4), box=(lo, hi))
    ordered = np.clip(replay(X, 0.4, n, 4), lo, hi)
    np.testing.assert_allclose(out.numpy(), ordered[:, 7], rtol=1e-12)
    samples = sample_noisy_outputs(Counting(), X, 0.4, n, generator=gen(4), box=(lo, hi))
    assert float(samples.min()) >= lo and float(samples.max()) <= hi
    assert {float(samples.min()), float(samples.max())} == {lo, hi}  # both sides bind here


def chunks(rows: int, size: int) -> list[int]:
    return [min(size, rows - s) for s in range(0, rows, size)]


def test_max_batch_bounds_every_model_call() -> None:
    """3 inputs × 10 samples = 30 rows in calls of at most 7 (7, 7, 7, 7, 2), same values."""
    x = torch.rand(3, 4, generator=gen(5), dtype=F64)
    ref = smoothed_percentile(Counting(), x, 0.2, 0.5, 10, generator=gen(6))
    f = Counting()
    out = smoothed_percentile(f, x, 0.2, 0.5, 10, generator=gen(6), max_batch=7)
    assert f.calls == chunks(30, 7) and torch.equal(out, ref)
    f = Counting()
    certify_percentile(f, x, 0.01, 0.2, n_samples=10, alpha=0.4, generator=gen(6), max_batch=4)
    assert f.calls == chunks(30, 4)
    f = Counting()
    sample_noisy_outputs(f, x, 0.2, 10, generator=gen(6), max_batch=30)
    assert f.calls == [30]


def test_median_smoothing_module_honours_max_batch_clip_and_n_samples() -> None:
    x = torch.rand(3, 4, generator=gen(7), dtype=F64)
    f = Counting()
    m = MedianSmoothing(f, sigma=0.2, n_samples=9, max_batch=5, box=(0.1, 0.5))
    out = m(x, generator=gen(8))
    assert f.calls == chunks(27, 5)
    ordered = np.clip(replay(x, 0.2, 9, 8), 0.1, 0.5)
    np.testing.assert_allclose(out.numpy(), ordered[:, 4], rtol=1e-12)
    f.calls.clear()
    q = m.percentile(x, 0.25, n_samples=12, generator=gen(9))
    assert f.calls == chunks(36, 5)
    ordered = np.clip(replay(x, 0.2, 12, 9), 0.1, 0.5)
    np.testing.assert_allclose(q.numpy(), ordered[:, 2], rtol=1e-12)
    f.calls.clear()
    s = m.sample(x, n_samples=4, generator=gen(9))
    assert f.calls == chunks(12, 5) and s.shape == (3, 4, 4)
    f.calls.clear()
    cert = m.certify(x, 0.01, n_samples=40, alpha=0.2, p=0.4, simultaneous=True, generator=gen(1))
    assert f.calls == chunks(120, 5)
    assert cert.indices == scan_indices(40, 0.01, 0.2, 0.2 / 8, 0.4)
    ordered = np.clip(replay(x, 0.2, 40, 1), 0.1, 0.5)
    np.testing.assert_allclose(cert.median.numpy(), ordered[:, 15], rtol=1e-12)
