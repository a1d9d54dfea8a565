"""Monte-Carlo percentile smoothing: fused sampling of ``f(x + σg)`` and its percentiles.

The smoothed model replaces each output coordinate of ``f`` by the ``p``-percentile of
``f(x + σg)``, ``g ~ N(0, I)`` (the median for ``p = 0.5``), estimated by Monte Carlo with
``n`` noisy copies evaluated fused through :class:`~stochrobust.Estimator` ([C24] §4.1).

Conventions shared by the whole subpackage:

- the empirical ``p``-percentile of ``n`` samples is the order statistic ``X(⌈p·n⌉)``
  (1-based, :func:`~stochrobust.smoothing.percentile_index`);
- the noise for input ``b`` and sample ``k`` is row ``b·n + k`` of one draw
  ``torch.randn((B·n, *x.shape[1:]), generator=generator)`` in ``x``'s dtype;
- the base model is evaluated in eval mode and left exactly as it was;
- ``clip=(lo, hi)`` makes the base model ``clamp(f(·), lo, hi)`` for predictions and
  certificates alike.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.1–4.2, Lemma 4.1.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust._checks import (
    StochRobustTypeError,
    check_batch,
    check_callable,
    check_generator,
    check_int,
    check_number,
    check_positive,
    check_probability,
    describe,
    frozen,
)
from stochrobust.estimator import Estimator
from stochrobust.smoothing.certificates import percentile_index

__all__ = ["sample_noisy_outputs", "smoothed_percentile"]

Model = Callable[[torch.Tensor], torch.Tensor]
"""A base model: maps a batch ``(B, ...)`` to an output batch ``(B, ...)``."""


def _check_clip(clip: object) -> tuple[float, float] | None:
    if clip is None:
        return None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise StochRobustTypeError(
            f"clip: expected None or a pair (low, high), got {describe(clip)}"
        )
    low = check_number(clip[0], "clip[0]")
    high = check_number(clip[1], "clip[1]", low=low, low_inclusive=False)
    return low, high


def _sample(
    model: Model,
    x: torch.Tensor,
    sigma: float,
    n: int,
    generator: torch.Generator | None,
    max_batch: int | None,
    clip: tuple[float, float] | None,
) -> torch.Tensor:
    """Validated core of :func:`sample_noisy_outputs`: ``(B, n, *out)``."""

    def perturbed(y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return model(y + sigma * g)

    est = Estimator(perturbed, seed_shape=tuple(x.shape[1:]), max_batch=max_batch)
    with frozen(model, eval_mode=True, freeze_parameters=False):
        out = est.forward_seeds(x, est.sample_seeds(x, n, generator))
    return out if clip is None else out.clamp(clip[0], clip[1])


def sample_noisy_outputs(
    model: Model,
    x: torch.Tensor,
    sigma: float,
    n_samples: int,
    *,
    generator: torch.Generator | None = None,
    max_batch: int | None = None,
    clip: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Evaluate ``model(x + σg)`` on ``n_samples`` Gaussian draws per input, fused.

    The ``B`` inputs are repeated into one ``(B·n)`` batch that goes through the model in
    chunks of at most ``max_batch`` rows (the last chunk holds the remainder: exactly ``n``
    samples per input are evaluated). Differentiable with respect to ``x``.

    Args:
        model: the base model ``f`` (``nn.Module`` or callable), evaluated in eval mode.
        x: inputs ``(B, ...)``, finite.
        sigma: noise standard deviation (``> 0``), in the units of ``x``.
        n_samples: noisy copies per input (``≥ 1``).
        generator: random generator for the noise (same state → same samples).
        max_batch: most rows per model call (``None``: one call).
        clip: ``(low, high)`` to clamp every output, or ``None``.

    Returns:
        Samples ``(B, n, *out_shape)``.

    Raises:
        RangeError: ``sigma ≤ 0``, ``n_samples < 1``, ``max_batch < 1`` or ``low ≥ high``.
        NonFiniteError: ``x`` holds NaN or Inf.
        StochRobustTypeError: wrong argument types.
        ModelError: the model returns something else than a ``(B·n, ...)`` tensor.

    Shape:
        - ``x``: ``(B, *in_shape)``; output: ``(B, n, *out_shape)``.

    References:
        [C24] §4.1 (Monte-Carlo sampling of ``f(x + G)``, ``G ~ N(0, σ²I)``).

    Examples:
        >>> x = torch.zeros(2, 1, 4, 4)
        >>> s = sample_noisy_outputs(torch.nn.Identity(), x, 0.1, 5)
        >>> s.shape
        torch.Size([2, 5, 1, 4, 4])
    """
    check_callable(model, "model")
    x = check_batch(x, "x")
    sigma = check_positive(sigma, "sigma")
    n = check_int(n_samples, "n_samples", minimum=1)
    check_generator(generator)
    return _sample(model, x, sigma, n, generator, max_batch, _check_clip(clip))


def smoothed_percentile(
    model: Model,
    x: torch.Tensor,
    sigma: float,
    p: float = 0.5,
    n_samples: int = 21,
    *,
    generator: torch.Generator | None = None,
    max_batch: int | None = None,
    clip: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Monte-Carlo ``p``-percentile smoothing, per output coordinate.

    Returns the order statistic ``X(⌈p·n⌉)`` of ``n`` samples ``f(x + σg)`` per coordinate:
    for ``p = 0.5`` and odd ``n`` the sample median. Differentiable with respect to ``x``
    (the gradient flows through the selected sample), so attacks on the smoothed model work.

    Args:
        model: the base model ``f``.
        x: inputs ``(B, ...)``.
        sigma: noise standard deviation (``> 0``).
        p: percentile level in ``(0, 1)``.
        n_samples: Monte-Carlo samples (CertSR: 21).
        generator: random generator for the noise.
        max_batch: most rows per model call.
        clip: ``(low, high)`` output clamp (monotone, so it commutes with the percentile).

    Returns:
        ``(B, *out_shape)``, in the model's output dtype.

    Raises:
        RangeError: ``sigma ≤ 0``, ``p`` outside ``(0, 1)``, ``n_samples < 1``.
        NonFiniteError: ``x`` holds NaN or Inf.

    Shape:
        - ``x``: ``(B, *in_shape)``; output: ``(B, *out_shape)``.

    References:
        [C24] §4.1 (``q_{0.5}``) and §4.2 (n = 21 at inference).

    Examples:
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> y = smoothed_percentile(torch.nn.Identity(), x, 0.1, n_samples=2001,
        ...                         generator=torch.Generator().manual_seed(0))
        >>> bool((y - 0.5).abs().max() < 0.02)  # the median of x + σg is x
        True
    """
    p = check_probability(p, "p")
    samples = sample_noisy_outputs(
        model, x, sigma, n_samples, generator=generator, max_batch=max_batch, clip=clip
    )
    k = percentile_index(samples.shape[1], p)
    return samples.movedim(1, -1).contiguous().kthvalue(k, dim=-1).values
