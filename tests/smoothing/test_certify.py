from __future__ import annotations

import math
import warnings

import pytest
import torch
from scipy.stats import binom, norm

from stochrobust import NonFiniteError, RangeError, StochRobustTypeError
from stochrobust.smoothing import (
    CertificationWarning,
    certified_indices,
    certify_percentile,
    sample_noisy_outputs,
)


def h(t: torch.Tensor) -> torch.Tensor:
    """A monotone per-pixel base model: its smoothed p-percentile at x is h(x + σΦ⁻¹(p))."""
    return torch.tanh(2.0 * t)


N_SAMPLES, SIGMA, EPS, ALPHA = 51, 0.5, 0.25, 0.1
TRIALS, SIDE = 64, 8  # 64 independent certificates of an 8×8 image: 4096 pixel trials / side


def trial_batch() -> torch.Tensor:
    x = torch.rand(
        1, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    return x.expand(TRIALS, -1, -1, -1).clone()


def binomial_band(trials: int, prob: float) -> tuple[float, float]:
    """Counts outside this band have probability < 2e-7 under Bin(trials, prob)."""
    return float(binom.ppf(1e-7, trials, prob)), float(binom.isf(1e-7, trials, prob))


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_soundness_against_worst_case_perturbations(p: float) -> None:
    x = trial_batch()
    gen_seed = 11
    cert = certify_percentile(
        h, x, EPS, SIGMA, n_samples=N_SAMPLES, alpha=ALPHA, p=p,
        generator=torch.Generator().manual_seed(gen_seed),
    )  # fmt: skip
    k_low, k_up = cert.indices
    assert k_low is not None and k_up is not None
    z = float(norm.ppf(p))
    # The worst δ for pixel i is ±ε·e_i: the true smoothed percentile at x + δ is then
    # h(x_i ± ε + σ z_p) — exactly q_{p̄} / q_{p̲} at x (the lemma is tight for this model).
    truth_low = h(x - EPS + SIGMA * z)
    truth_up = h(x + EPS + SIGMA * z)
    fail_low = int((cert.lower > truth_low).sum())
    fail_up = int((cert.upper < truth_up).sum())
    trials = x.numel()
    # exact failure probabilities of the returned order statistics: Bin(n, p̲) ≤ k̲ − 1 …
    p_low = norm.cdf(z - EPS / SIGMA)
    p_up = norm.cdf(z + EPS / SIGMA)
    prob_low = binom.cdf(k_low - 1, N_SAMPLES, p_low)
    prob_up = binom.sf(k_up - 1, N_SAMPLES, p_up)
    assert prob_low <= ALPHA and prob_up <= ALPHA
    for fails, prob in ((fail_low, prob_low), (fail_up, prob_up)):
        lo, hi = binomial_band(trials, prob)
        assert lo <= fails <= hi, (fails, prob * trials)

    # The test is informative: the reference code's off-by-one (1-based index used as a
    # 0-based one: X(k̲ + 1), X(k̄ + 1)) fails far more often than α allows.
    samples = sample_noisy_outputs(
        h, x, SIGMA, N_SAMPLES, generator=torch.Generator().manual_seed(gen_seed)
    )
    ordered = samples.sort(dim=1).values
    assert torch.equal(ordered[:, k_low - 1], cert.lower)
    bad_fail_low = int((ordered[:, k_low] > truth_low).sum())
    assert bad_fail_low > binomial_band(trials, ALPHA)[1]


def test_soundness_against_spread_perturbations() -> None:
    x = trial_batch()
    cert = certify_percentile(
        h, x, EPS, SIGMA, n_samples=N_SAMPLES, alpha=ALPHA,
        generator=torch.Generator().manual_seed(5),
    )  # fmt: skip
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=x.dtype)
    delta = EPS * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # ‖δ‖ = ε per image
    truth = h(x + delta)  # the smoothed median at x + δ
    fails = int((~cert.contains(truth)).sum())
    # each pixel and side fails with probability ≤ α, independently given δ
    assert fails <= binomial_band(2 * x.numel(), ALPHA)[1]


def test_simultaneous_guarantee_holds_per_image() -> None:
    x = trial_batch()
    cert = certify_percentile(
        h, x, EPS, SIGMA, n_samples=N_SAMPLES, alpha=ALPHA, simultaneous=True,
        generator=torch.Generator().manual_seed(9),
    )  # fmt: skip
    d = SIDE * SIDE
    assert cert.alpha_per_side == ALPHA / (2 * d)
    assert cert.indices == certified_indices(N_SAMPLES, EPS, SIGMA, ALPHA / (2 * d))
    # an image fails if any pixel's worst case leaves the interval on either side
    ok = (cert.lower <= h(x - EPS)) & (h(x + EPS) <= cert.upper)
    failed_images = int((~ok.flatten(1).all(dim=1)).sum())
    assert failed_images <= binomial_band(TRIALS, ALPHA)[1]
    # and the per-pixel interval is wider than without the union bound
    single = certify_percentile(
        h, x, EPS, SIGMA, n_samples=N_SAMPLES, alpha=ALPHA,
        generator=torch.Generator().manual_seed(9),
    )  # fmt: skip
    assert bool((cert.lower <= single.lower).all() and (cert.upper >= single.upper).all())


def test_simultaneous_counts_output_coordinates() -> None:
    up = torch.nn.Upsample(scale_factor=2)
    cert = certify_percentile(
        up, torch.zeros(1, 1, 4, 4), 0.01, 0.25, n_samples=200, simultaneous=True
    )
    assert cert.median.shape == (1, 1, 8, 8)
    assert cert.alpha_per_side == 1e-3 / (2 * 64)


def test_same_generator_same_certificate() -> None:
    x = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    a, b = (
        certify_percentile(
            h, x, 0.1, 0.25, n_samples=301, generator=torch.Generator().manual_seed(4)
        )
        for _ in range(2)
    )
    for name in ("median", "lower", "upper", "certified"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.indices == b.indices == certified_indices(301, 0.1, 0.25, 1e-3)
    assert (a.n_samples, a.eps, a.sigma, a.alpha, a.p, a.simultaneous) == (
        301,
        0.1,
        0.25,
        1e-3,
        0.5,
        False,
    )


def test_median_is_the_middle_order_statistic() -> None:
    x = torch.rand(2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cert = certify_percentile(
        h, x, 0.0, 0.3, n_samples=21, generator=torch.Generator().manual_seed(1)
    )
    samples = sample_noisy_outputs(h, x, 0.3, 21, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cert.median, samples.sort(dim=1).values[:, 10])


def test_clipping_commutes_with_the_certificate() -> None:
    net = lambda t: 4 * t - 1.5  # noqa: E731  (outputs leave [0, 1] on both sides)
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    kw = {"n_samples": 400, "generator": None}
    raw = certify_percentile(
        net, x, 0.05, 0.2, **kw | {"generator": torch.Generator().manual_seed(3)}
    )
    cl = certify_percentile(
        net, x, 0.05, 0.2, box=(0.0, 1.0), **kw | {"generator": torch.Generator().manual_seed(3)}
    )
    assert bool((raw.lower < 0).any()) and bool((raw.upper > 1).any())
    for name in ("median", "lower", "upper"):
        assert torch.equal(getattr(cl, name), getattr(raw, name).clamp(0.0, 1.0))
    assert cl.box == (0.0, 1.0) and cl.indices == raw.indices


def test_uncertifiable_sides_warn_and_report_infinity() -> None:
    x = torch.zeros(2, 4)
    with pytest.warns(CertificationWarning) as record:
        cert = certify_percentile(h, x, 0.5, 0.25, n_samples=100, alpha=1e-3)
    assert len(record) == 2 and len(cert.warnings) == 2
    assert "lower" in cert.warnings[0] and "upper" in cert.warnings[1]
    assert "n_samples=100" in cert.warnings[0]
    assert cert.indices == (None, None)
    assert bool((cert.lower == -math.inf).all()) and bool((cert.upper == math.inf).all())
    assert not bool(cert.certified.any())
    assert bool(torch.isfinite(cert.median).all())


def test_one_sided_certificate() -> None:
    # p = 0.3, ε/σ = 1, n = 21, α = 0.1: the lower side needs (1 − p̲)ⁿ ≤ α and fails,
    # the upper side survives.
    with pytest.warns(CertificationWarning, match="lower"):
        cert = certify_percentile(h, torch.zeros(1, 3), 0.25, 0.25, n_samples=21, alpha=0.1, p=0.3)
    k_low, k_up = cert.indices
    assert k_low is None and k_up is not None
    assert bool((cert.lower == -math.inf).all()) and bool(torch.isfinite(cert.upper).all())
    assert not bool(cert.certified.any()) and len(cert.warnings) == 1


def test_certifiable_case_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = certify_percentile(h, torch.zeros(1, 3), 0.1, 0.25, n_samples=500)
    assert cert.warnings == () and bool(cert.certified.all())


def test_non_finite_model_output() -> None:
    with pytest.raises(NonFiniteError, match="model output: expected finite"):
        certify_percentile(torch.log, torch.zeros(1, 3), 0.1, 0.5, n_samples=50)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"eps": -0.1}, RangeError, "eps"),
        ({"sigma": 0.0}, RangeError, "sigma"),
        ({"alpha": 0.0}, RangeError, "alpha"),
        ({"alpha": 1.0}, RangeError, "alpha"),
        ({"p": 0.0}, RangeError, "p"),
        ({"n_samples": 0}, RangeError, "n_samples"),
        ({"simultaneous": 1}, StochRobustTypeError, "simultaneous"),
    ],
)
def test_bad_input(kwargs: dict, error: type[Exception], name: str) -> None:
    args = {"model": h, "y": torch.zeros(1, 3), "eps": 0.1, "sigma": 0.25} | kwargs
    with pytest.raises(error, match=name):
        certify_percentile(**args)
