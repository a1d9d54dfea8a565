from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stochrobust import NonFiniteError, RangeError, StochRobustTypeError
from stochrobust.smoothing import certified_indices, certified_radius, percentile_index

# (n, eps, sigma, alpha) -> (lower, upper): reference vectors of the certificate indices of
# [C24] Lemma 4.1 with Chiang et al. 2020's order statistics (docs/smoothing.md).
REFERENCE_VECTORS = [
    ((2000, 0.36, 0.25, 1e-5), (102, 1899)),
    ((2000, 0.25, 0.25, 1e-3), (268, 1733)),
    ((21, 0.03, 0.06, 0.05), (3, 19)),
    ((100, 0.5, 0.25, 1e-3), (None, None)),
]


@pytest.mark.parametrize(("args", "expected"), REFERENCE_VECTORS)
def test_reference_vectors(args: tuple[int, float, float, float], expected: tuple) -> None:
    assert certified_indices(*args) == expected


def brute_force_indices(
    n: int, eps: float, sigma: float, alpha: float, p: float
) -> tuple[int | None, int | None, mpmath.mpf]:
    """docs/smoothing.md's index definitions literally, in 50-digit arithmetic, one k at a time.

    Returns the indices and the smallest distance between a CDF value and the threshold
    1 − α (a near-tie there is decided by rounding, not by the formula).
    """
    with mpmath.workdps(50):
        z = mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(p) - 1)
        p_up = mpmath.ncdf(z + mpmath.mpf(eps) / sigma)
        p_low = mpmath.ncdf(z - mpmath.mpf(eps) / sigma)
        target = 1 - mpmath.mpf(alpha)

        def cdfs(r: mpmath.mpf) -> list[mpmath.mpf]:
            out, term, total = [], (1 - r) ** n, mpmath.mpf(0)
            for j in range(n + 1):  # BinomCDF(j; n, r) for j = 0..n
                total += term
                out.append(total)
                term = term * (n - j) / (j + 1) * r / (1 - r) if r < 1 else mpmath.mpf(0)
            return out

        cdf_up, cdf_low = cdfs(p_up), cdfs(p_low)
        upper = None
        for k in range(1, n + 1):
            if cdf_up[k - 1] >= target:
                upper = k
                break
        lower = None
        for k in range(n, 0, -1):
            if 1 - cdf_low[k - 1] >= target:
                lower = k
                break
        margin = min(
            min(abs(c - target) for c in cdf_up[:n]),
            min(abs((1 - c) - target) for c in cdf_low[:n]),
        )
    return lower, upper, margin


@given(
    n=st.integers(1, 1500),
    eps=st.floats(0.0, 1.0),
    sigma=st.floats(0.02, 1.0),
    alpha=st.floats(1e-8, 0.45),
    p=st.one_of(st.just(0.5), st.floats(0.05, 0.95)),
)
def test_indices_match_brute_force_scan(
    n: int, eps: float, sigma: float, alpha: float, p: float
) -> None:
    lower, upper, margin = brute_force_indices(n, eps, sigma, alpha, p)
    assume(margin > 1e-9 * alpha)  # exact ties are decided by float rounding
    assert certified_indices(n, eps, sigma, alpha, p) == (lower, upper)


@given(
    n=st.integers(1, 3000),
    ratio=st.floats(0.0, 3.0),
    alpha=st.floats(1e-8, 0.45),
)
def test_median_indices_are_symmetric_and_monotone(n: int, ratio: float, alpha: float) -> None:
    lower, upper = certified_indices(n, ratio, 1.0, alpha)
    # p = 1/2: p̲ = 1 − p̄, so the two conditions mirror each other: k̲ + k̄ = n + 1.
    assert (lower is None) == (upper is None)
    if lower is not None and upper is not None:
        assert lower + upper == n + 1
        assert 1 <= lower <= percentile_index(n) <= upper <= n
    # a larger radius never tightens the interval
    lower2, upper2 = certified_indices(n, ratio + 0.1, 1.0, alpha)
    if lower2 is not None:
        assert lower is not None and lower2 <= lower
    if upper2 is not None:
        assert upper is not None and upper2 >= upper


def test_indices_depend_on_eps_over_sigma_only() -> None:
    assert certified_indices(500, 0.1, 0.2, 1e-3) == certified_indices(500, 0.5, 1.0, 1e-3)


def test_zero_radius_is_a_confidence_interval_for_the_percentile() -> None:
    # eps = 0: the classical distribution-free CI for the p-quantile (e.g. n = 100, α = 0.025
    # per side, the 95% CI of the median is X(40)..X(61)).
    assert certified_indices(100, 0.0, 1.0, 0.025) == (40, 61)


@given(
    n=st.integers(1, 5000),
    sigma=st.floats(0.01, 2.0),
    alpha=st.floats(1e-10, 0.45),
    p=st.one_of(st.just(0.5), st.floats(0.02, 0.98)),
)
def test_certified_radius_is_the_boundary(n: int, sigma: float, alpha: float, p: float) -> None:
    radius = certified_radius(n, sigma, alpha, p)
    if radius is None:
        assert None in certified_indices(n, 0.0, sigma, alpha, p)
        return
    assume(radius > 1e-6 * sigma)
    below = certified_indices(n, radius * (1 - 1e-7), sigma, alpha, p)
    above = certified_indices(n, radius * (1 + 1e-7), sigma, alpha, p)
    assert None not in below
    assert None in above


def test_certified_radius_closed_form_matches_bisection() -> None:
    for n, sigma, alpha in [(21, 0.06, 1e-3), (100, 0.25, 1e-5), (2000, 0.5, 0.05)]:
        lo, hi = 0.0, 10.0 * sigma
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if None not in certified_indices(n, mid, sigma, alpha) else (lo, mid)
        radius = certified_radius(n, sigma, alpha)
        assert radius is not None
        assert math.isclose(radius, lo, rel_tol=1e-9)


def test_certified_radius_literature_values() -> None:
    # n = 1: one sample can never certify both sides at α < 1/2.
    assert certified_radius(1, 0.25, 1e-3) is None
    # both extreme indices valid iff Φ(ε/σ)^n ≤ α: check the defining equation directly.
    from scipy.stats import norm

    radius = certified_radius(2000, 0.25, 1e-3)
    assert radius is not None
    assert math.isclose(norm.cdf(radius / 0.25) ** 2000, 1e-3, rel_tol=1e-6)


@given(n=st.integers(1, 200), p=st.floats(0.001, 0.999), seed=st.integers(0, 2**32 - 1))
def test_percentile_index_matches_numpy_inverted_cdf(n: int, p: float, seed: int) -> None:
    k = percentile_index(n, p)
    assert 1 <= k <= n
    # the definition: the smallest k with k/n ≥ p (p read as the decimal it prints as)
    assert Fraction(k, n) >= Fraction(repr(p)) > Fraction(k - 1, n)
    # numpy's "inverted_cdf" quantile is the same order statistic (away from float ties)
    assume(abs(p * n - round(p * n)) > 1e-9)
    x = np.random.default_rng(seed).standard_normal(n)
    assert np.quantile(x, p, method="inverted_cdf") == np.sort(x)[k - 1]


def test_percentile_index_median_convention() -> None:
    assert [percentile_index(n) for n in (1, 2, 3, 4, 21, 2000)] == [1, 1, 2, 2, 11, 1000]
    # as typed: 0.1·10 is 1 (the float 0.1 is slightly above 1/10), 0.3·10 is 3
    assert [percentile_index(10, p) for p in (0.1, 0.3, 0.7, 0.9)] == [1, 3, 7, 9]
    assert [percentile_index(3, p) for p in (1 / 3, 2 / 3)] == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_samples": 0}, RangeError),
        ({"n_samples": 2.5}, StochRobustTypeError),
        ({"eps": -0.1}, RangeError),
        ({"eps": math.nan}, NonFiniteError),
        ({"sigma": 0.0}, RangeError),
        ({"sigma": -1.0}, RangeError),
        ({"alpha": 0.0}, RangeError),
        ({"alpha": 1.0}, RangeError),
        ({"p": 0.0}, RangeError),
        ({"p": 1.5}, RangeError),
    ],
)
def test_bad_input(kwargs: dict, error: type[Exception]) -> None:
    args = {"n_samples": 100, "eps": 0.1, "sigma": 0.25, "alpha": 1e-3, "p": 0.5} | kwargs
    with pytest.raises(error, match=next(iter(kwargs))):
        certified_indices(**args)
    if "eps" not in kwargs:
        del args["eps"]
        with pytest.raises(error, match=next(iter(kwargs))):
            certified_radius(**args)
