"""Finite-sample certificates for percentile smoothing: order-statistic indices and radii.

The smoothed model ``q_p(x)_i`` is the population ``p``-percentile of ``f(x + σg)_i`` with
``g ~ N(0, I)`` ([C24] §4.1). Chiang et al. (2020) show that for every ``‖δ‖₂ < ε``

    ``q_{p̲}(x) ≤ q_p(x + δ) ≤ q_{p̄}(x)``,  ``p̄ = Φ(Φ⁻¹(p) + ε/σ)``,  ``p̲ = Φ(Φ⁻¹(p) − ε/σ)``

([C24] Lemma 4.1, eq. 3). With ``n`` i.i.d. samples sorted as ``X(1) ≤ … ≤ X(n)``
(1-based), ``X(k̲) ≤ q_{p̲}(x)`` and ``q_{p̄}(x) ≤ X(k̄)`` each hold with probability at
least ``1 − α`` when

    ``k̄ = min{k : BinomCDF(k − 1; n, p̄) ≥ 1 − α}``,
    ``k̲ = max{k : 1 − BinomCDF(k − 1; n, p̲) ≥ 1 − α}``.

This module computes those indices exactly (no clamping: a side without a valid index is
reported as ``None``), the Monte-Carlo percentile index ``⌈p·n⌉`` used for predictions, and
the largest certifiable radius in closed form.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.1, Lemma 4.1 (eq. 3).
    [Ch20] Chiang, Curry, Abdelkader, Kumar, Dickerson, Goldstein. Detection as regression:
    certified object detection with median smoothing. NeurIPS 2020, Lemma 1 and §4.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from stochrobust._checks import check_int, check_positive, check_probability
from stochrobust._deprecate import renamed

__all__ = ["certified_indices", "certified_radius", "percentile_index"]


@renamed(n="n_samples")
def percentile_index(n_samples: int, p: float = 0.5) -> int:
    """1-based index of the empirical ``p``-percentile among ``n`` sorted samples.

    The empirical ``p``-percentile of ``X_1..X_n`` is the order statistic ``X(⌈p·n⌉)``, the
    smallest sample ``x`` with ``#{i : X_i ≤ x} ≥ p·n`` (the empirical distribution
    function's generalised inverse). For ``p = 0.5`` and odd ``n`` it is the middle sample;
    for even ``n`` the lower of the two middle ones (as ``torch.median``). ``p`` is read as
    the shortest decimal that prints as it (``Fraction(repr(p))``) and ``p·n`` is evaluated
    exactly, so ``p = 0.1, n = 10`` gives ``1`` and ``p = 0.3, n = 10`` gives ``3``, as
    typed — the binary float ``0.1`` is slightly above ``1/10`` and a float product rounds
    either way. This agrees with ``numpy.quantile(..., method="inverted_cdf")``.

    Args:
        n_samples: number of samples ``n`` (``≥ 1``; ``n=``: deprecated 0.1 spelling).
        p: percentile level in ``(0, 1)``.

    Returns:
        The index ``k = ⌈p·n⌉ ∈ {1, …, n}``.

    Raises:
        RangeError: ``n_samples < 1`` or ``p`` outside ``(0, 1)``.
        StochRobustTypeError: ``n_samples`` is not an integer.

    References:
        [C24] §4.1 (Monte-Carlo estimate of ``q_p``); [Ch20] §4.

    Examples:
        >>> percentile_index(21), percentile_index(20), percentile_index(10, 0.1)
        (11, 10, 1)
    """
    n = check_int(n_samples, "n_samples", minimum=1)
    p = check_probability(p, "p")
    return max(1, math.ceil(Fraction(repr(p)) * n))


def _last_tail_index(n: int, r: float, alpha: float) -> int | None:
    """``max{j ∈ {0..n−1} : BinomCDF(j; n, r) ≤ α}`` (``None`` if the set is empty).

    The CDF is increasing in ``j``, so the set is a prefix; the first ``j`` that fails ends
    it (conservative should rounding ever break monotonicity).
    """
    from scipy.stats import binom

    cdf = binom.cdf(np.arange(n), n, r)
    ok = cdf <= alpha
    if not ok[0]:
        return None
    return n - 1 if bool(ok.all()) else int(np.argmin(ok)) - 1


@renamed(n="n_samples")
def certified_indices(
    n_samples: int, eps: float, sigma: float, alpha: float, p: float = 0.5
) -> tuple[int | None, int | None]:
    """Order-statistic indices ``(k̲, k̄)`` of a certified percentile interval.

    With ``n`` i.i.d. samples of ``f(x + σg)_i`` sorted as ``X(1) ≤ … ≤ X(n)``, each of the
    one-sided statements ``X(k̲) ≤ q_p(x + δ)_i`` and ``q_p(x + δ)_i ≤ X(k̄)`` for all
    ``‖δ‖₂ < ε`` holds with probability at least ``1 − α`` over the samples.

    - upper: ``k̄ = min{k : BinomCDF(k − 1; n, p̄) ≥ 1 − α}``, ``p̄ = Φ(Φ⁻¹(p) + ε/σ)``;
    - lower: ``k̲ = max{k : 1 − BinomCDF(k − 1; n, p̲) ≥ 1 − α}``, ``p̲ = Φ(Φ⁻¹(p) − ε/σ)``.

    Both are evaluated through the small tails for accuracy: the upper condition is
    ``BinomCDF(n − k; n, 1 − p̄) ≤ α`` (``1 − p̄`` from the Gaussian survival function), the
    lower one ``BinomCDF(k − 1; n, p̲) ≤ α``. All ``k`` are scanned at once (vectorised).

    Args:
        n_samples: number of samples ``n`` (``≥ 1``; ``n=``: deprecated 0.1 spelling).
        eps: L2 radius of the input perturbation (``≥ 0``).
        sigma: standard deviation of the smoothing noise (``> 0``).
        alpha: failure probability of each side, in ``(0, 1)``. For a guarantee that holds
            jointly over ``d`` coordinates and both sides pass ``alpha / (2·d)`` (union bound).
        p: percentile level in ``(0, 1)`` (``0.5``: the median).

    Returns:
        ``(lower, upper)``, 1-based indices into the sorted samples; each is ``None`` when
        no index in ``1..n`` satisfies its condition (that side cannot be certified with
        ``n`` samples — it is never clamped to ``1`` or ``n``).

    Raises:
        RangeError: ``n_samples < 1``, ``eps < 0``, ``sigma ≤ 0``, ``alpha`` or ``p`` outside
            ``(0, 1)``.
        NonFiniteError: a non-finite ``eps``, ``sigma``, ``alpha`` or ``p``.
        StochRobustTypeError: ``n_samples`` is not an integer.

    References:
        [C24] Lemma 4.1 (eq. 3); [Ch20] §4 (the order-statistic bounds).

    Examples:
        >>> certified_indices(2000, 0.36, 0.25, 1e-5)
        (102, 1899)
        >>> certified_indices(100, 0.5, 0.25, 1e-3)  # too few samples for either side
        (None, None)
    """
    n = check_int(n_samples, "n_samples", minimum=1)
    eps = check_positive(eps, "eps", allow_zero=True)
    sigma = check_positive(sigma, "sigma")
    alpha = check_probability(alpha, "alpha")
    p = check_probability(p, "p")
    from scipy.stats import norm

    z = float(norm.ppf(p))
    p_low = float(norm.cdf(z - eps / sigma))  # p̲
    q_up = float(norm.sf(z + eps / sigma))  # 1 − p̄, accurate when p̄ is close to 1
    j_low = _last_tail_index(n, p_low, alpha)
    j_up = _last_tail_index(n, q_up, alpha)
    lower = None if j_low is None else j_low + 1
    upper = None if j_up is None else n - j_up
    return lower, upper


@renamed(n="n_samples")
def certified_radius(n_samples: int, sigma: float, alpha: float, p: float = 0.5) -> float | None:
    """Largest radius ``ε`` for which :func:`certified_indices` gives both indices.

    The extreme indices are the last to survive as ``ε`` grows: the upper side exists iff
    ``k̄ = n`` is valid, i.e. ``p̄ⁿ ≤ α``; the lower side iff ``k̲ = 1`` is valid, i.e.
    ``(1 − p̲)ⁿ ≤ α``. Solving both for ``ε`` gives the closed form

        ``ε* = σ · (Φ⁻¹(α^{1/n}) − |Φ⁻¹(p)|)``,

    evaluated without cancellation as ``−Φ⁻¹(1 − α^{1/n})`` with ``1 − α^{1/n} =
    −expm1(log(α)/n)``. No bisection is needed. At ``ε*`` itself the conditions hold with
    equality, so :func:`certified_indices` may flip either way there by floating-point
    rounding (relative ``~1e-12``); below it both indices exist, above it at least one side
    is lost.

    Args:
        n_samples: number of samples ``n`` (``≥ 1``; ``n=``: deprecated 0.1 spelling).
        sigma: smoothing noise standard deviation (``> 0``).
        alpha: failure probability per side, in ``(0, 1)`` (``alpha / (2·d)`` for a
            simultaneous guarantee over ``d`` coordinates).
        p: percentile level in ``(0, 1)``.

    Returns:
        ``ε*`` (``≥ 0``), or ``None`` when even ``ε = 0`` cannot be certified on both sides
        with ``n`` samples (e.g. ``n = 1``).

    Raises:
        RangeError: ``n_samples < 1``, ``sigma ≤ 0``, ``alpha`` or ``p`` outside ``(0, 1)``.
        StochRobustTypeError: ``n_samples`` is not an integer.

    References:
        [C24] Lemma 4.1 (eq. 3); [Ch20] §4.

    Examples:
        >>> round(certified_radius(2000, 0.25, 1e-3), 4)
        0.6755
        >>> certified_radius(1, 0.25, 1e-3) is None
        True
    """
    n = check_int(n_samples, "n_samples", minimum=1)
    sigma = check_positive(sigma, "sigma")
    alpha = check_probability(alpha, "alpha")
    p = check_probability(p, "p")
    from scipy.stats import norm

    tail = -math.expm1(math.log(alpha) / n)  # 1 − α^{1/n}
    radius = sigma * (-float(norm.ppf(tail)) - abs(float(norm.ppf(p))))
    return radius if radius >= 0 else None
