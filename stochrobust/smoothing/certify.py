"""Certified per-coordinate bounds on the smoothed percentile under ``‖δ‖₂ < ε``.

From ``n`` fresh samples ``f(y + σg)`` sorted per coordinate, ``X(k̲)`` and ``X(k̄)`` bound
the *population* percentile ``q_p(y + δ)`` for every ``‖δ‖₂ < ε`` with probability
``≥ 1 − α`` per side ([C24] Lemma 4.1; Chiang et al. 2020), with the indices of
:func:`~stochrobust.smoothing.certified_indices`.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.1–4.2, Lemma 4.1.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from stochrobust._checks import check_int, check_positive, check_probability, describe
from stochrobust._deprecate import renamed
from stochrobust._guard import guard
from stochrobust.errors import StochRobustTypeError
from stochrobust.smoothing.certificates import (
    certified_indices,
    certified_radius,
    percentile_index,
)
from stochrobust.smoothing.sampling import Model, check_output_box, sample_noisy_outputs

__all__ = ["CertificationWarning", "SmoothingCertificate", "certify_percentile"]


class CertificationWarning(UserWarning):
    """A side of a certificate could not be certified with the given number of samples."""


@dataclass(frozen=True)
class SmoothingCertificate:
    """Per-coordinate certified bounds on the smoothed percentile (see :func:`certify_percentile`).

    Attributes:
        median: Monte-Carlo prediction ``X(⌈p·n⌉)`` from the certification samples (the
            median for ``p = 0.5``), ``(B, *out)``.
        lower: ``X(k̲)``, or ``-inf`` where the lower side is not certified, ``(B, *out)``.
        upper: ``X(k̄)``, or ``+inf`` where the upper side is not certified, ``(B, *out)``.
        certified: ``True`` where both sides are certified, ``(B, *out)``.
        n_samples: samples used per input (``n``: deprecated 0.1 name, warns).
        eps: certified L2 radius of input perturbations.
        sigma: smoothing noise standard deviation.
        alpha: requested failure probability.
        alpha_per_side: the failure probability used per coordinate and side (``alpha``, or
            ``alpha / (2·d)`` when ``simultaneous``).
        p: percentile level.
        simultaneous: whether the guarantee is joint over all coordinates of an input and
            both sides (union bound).
        indices: the 1-based order-statistic indices ``(k̲, k̄)``, ``None`` per side if
            not certifiable.
        box: the output clamp ``(lo, hi)`` applied to every sample, or ``None``
            (``clip``: deprecated 0.1 name, warns).
        warnings: human-readable reasons for sides that could not be certified.
    """

    median: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    certified: torch.Tensor
    n_samples: int
    eps: float
    sigma: float
    alpha: float
    alpha_per_side: float
    p: float
    simultaneous: bool
    indices: tuple[int | None, int | None]
    box: tuple[float, float] | None
    warnings: tuple[str, ...]

    @property
    def n(self) -> int:
        """Deprecated 0.1 name of :attr:`n_samples` (warns ``DeprecationWarning``)."""
        warnings.warn(
            "SmoothingCertificate.n is deprecated since 0.2, use SmoothingCertificate.n_samples",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.n_samples

    @property
    def clip(self) -> tuple[float, float] | None:
        """Deprecated 0.1 name of :attr:`box` (warns ``DeprecationWarning``)."""
        warnings.warn(
            "SmoothingCertificate.clip is deprecated since 0.2, use SmoothingCertificate.box",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.box

    def contains(self, values: torch.Tensor) -> torch.Tensor:
        """Boolean mask ``lower ≤ values ≤ upper`` (elementwise, broadcasting).

        Args:
            values: tensor broadcastable to ``(B, *out)``, e.g. the smoothed percentile at
                a perturbed input.

        Returns:
            Boolean tensor of the broadcast shape.

        Examples:
            >>> c = certify_percentile(torch.nn.Identity(), torch.zeros(1, 3), 0.1, 0.5,
            ...                        n_samples=200, generator=torch.Generator().manual_seed(0))
            >>> c.contains(torch.zeros(1, 3)).tolist()
            [[True, True, True]]
        """
        return (self.lower <= values) & (values <= self.upper)


@renamed(x="y", clip="box")
def certify_percentile(
    model: Model,
    y: torch.Tensor,
    eps: float,
    sigma: float,
    *,
    n_samples: int = 2000,
    alpha: float = 1e-3,
    p: float = 0.5,
    simultaneous: bool = False,
    generator: torch.Generator | None = None,
    max_batch: int | None = None,
    box: tuple[float, float] | None = None,
) -> SmoothingCertificate:
    """Certified per-coordinate bounds on the smoothed percentile under ``‖δ‖₂ < ε``.

    Draws ``n`` **fresh** samples ``f(y + σg)`` (use a dedicated generator: never the noise
    that chose σ, ε or the prediction), selects order statistics per coordinate and returns
    ``lower = X(k̲)``, ``upper = X(k̄)`` with the indices of
    :func:`~stochrobust.smoothing.certified_indices`. Guarantee: with probability at least
    ``1 − alpha_per_side`` over the samples, for every ``‖δ‖₂ < ε``,
    ``lower_i ≤ q_p(y + δ)_i`` (and likewise ``q_p(y + δ)_i ≤ upper_i``), where ``q_p`` is
    the *population* percentile of the (clipped) base model — not the Monte-Carlo
    prediction. With ``simultaneous=True`` ``alpha_per_side = alpha / (2·d)``, ``d`` the
    number of output coordinates per input, so all coordinates and both sides hold jointly
    with probability ``≥ 1 − alpha`` per input.

    A side without a valid index (too few samples for ``ε``) is reported as ``∓inf`` with
    ``certified = False``, a message in ``warnings`` and a :class:`CertificationWarning`.

    Args:
        model: the base model ``f``.
        y: inputs ``(B, ...)`` (``x=``: deprecated 0.1 spelling).
        eps: L2 radius (``≥ 0``) in the units of ``y``.
        sigma: smoothing noise standard deviation (``> 0``).
        n_samples: samples per input (Chiang et al. 2020: 2000). All ``B·n`` outputs are
            kept in memory at once.
        alpha: failure probability in ``(0, 1)``.
        p: percentile level in ``(0, 1)``.
        simultaneous: joint guarantee over all coordinates and both sides.
        generator: random generator for the certification noise.
        max_batch: most rows per model call.
        box: ``(lo, hi)`` output clamp, the same as for prediction (``clip=``: deprecated
            0.1 spelling).

    Returns:
        A :class:`SmoothingCertificate`.

    Raises:
        RangeError: ``eps < 0``, ``sigma ≤ 0``, ``n_samples < 1``, ``alpha`` or ``p``
            outside ``(0, 1)``.
        NonFiniteError: ``y`` or a model output holds NaN or Inf.
        ModelError: the model raises (chained) or returns a wrong batch or dtype.

    Shape:
        - ``y``: ``(B, *in_shape)``; every tensor of the result: ``(B, *out_shape)``.

    References:
        [C24] Lemma 4.1 (eq. 3); [Ch20] §4 (order-statistic bounds, n = 2000).

    Examples:
        >>> y = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> c = certify_percentile(torch.nn.Identity(), y, eps=0.05, sigma=0.25,
        ...                        n_samples=500, generator=torch.Generator().manual_seed(1))
        >>> c.indices, bool(c.certified.all())
        ((177, 324), True)
        >>> bool(((c.lower <= c.median) & (c.median <= c.upper)).all())
        True
    """
    eps = check_positive(eps, "eps", allow_zero=True)
    sigma = check_positive(sigma, "sigma")
    alpha = check_probability(alpha, "alpha")
    p = check_probability(p, "p")
    n = check_int(n_samples, "n_samples", minimum=1)
    if not isinstance(simultaneous, bool):
        raise StochRobustTypeError(f"simultaneous: expected a bool, got {describe(simultaneous)}")
    with guard(model, entry="certify_percentile", arg="model", freeze=False), torch.no_grad():
        samples = sample_noisy_outputs(
            model, y, sigma, n, generator=generator, max_batch=max_batch, box=box
        )
    d = math.prod(samples.shape[2:])
    alpha_side = alpha / (2 * d) if simultaneous else alpha
    k_low, k_up = certified_indices(n, eps, sigma, alpha_side, p)
    # Select the (at most three) order statistics along a contiguous last dimension (several
    # times faster than along dim 1); a selection keeps no sorted copy and no int64 indices
    # of all the samples, which a full sort would (3x the samples' memory).
    ordered = samples.movedim(1, -1).contiguous()
    del samples

    def order_statistic(k: int) -> torch.Tensor:
        return ordered.kthvalue(k, dim=-1).values

    median = order_statistic(percentile_index(n, p))
    inf = torch.full_like(median, math.inf)
    lower = -inf if k_low is None else order_statistic(k_low)
    upper = inf if k_up is None else order_statistic(k_up)
    notes = []
    for side, k in (("lower", k_low), ("upper", k_up)):
        if k is None:
            radius = certified_radius(n, sigma, alpha_side, p)
            reach = "no eps >= 0" if radius is None else f"at most eps={radius:.4g}"
            notes.append(
                f"{side} bound not certified: n_samples={n} is too few for eps={eps:g} at "
                f"sigma={sigma:g}, alpha per side={alpha_side:.3g}, p={p:g} ({reach} can be "
                f"certified on both sides); increase n_samples or sigma, or lower eps"
            )
            warnings.warn(notes[-1], CertificationWarning, stacklevel=2)
    both = k_low is not None and k_up is not None
    return SmoothingCertificate(
        median=median,
        lower=lower,
        upper=upper,
        certified=torch.full(median.shape, both, dtype=torch.bool, device=median.device),
        n_samples=n,
        eps=eps,
        sigma=sigma,
        alpha=alpha,
        alpha_per_side=alpha_side,
        p=p,
        simultaneous=simultaneous,
        indices=(k_low, k_up),
        box=check_output_box(box),
        warnings=tuple(notes),
    )
