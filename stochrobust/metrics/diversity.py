"""Output diversity of a stochastic estimator: the per-pixel standard deviation.

For one input ``y`` draw ``n`` outputs ``x̂_1..x̂_n ~ p(x̂ | y)``, take the standard deviation
over the ``n`` samples at every pixel and average it over the pixels; the dataset value is
the mean over the inputs ([O23] §6.1.1 and Table 2: 32 samples per input). A deterministic
estimator scores 0; a mode-collapsed stochastic one scores close to 0.

The standard deviation is the unbiased one by default (``torch.std`` with Bessel's
correction, dividing by ``n − 1``), which is what ``tensor.std(dim)`` — the natural reading of
the paper's "per-pixel std over 32 samples" — computes; ``unbiased=False`` divides by ``n``
(the two differ by the factor ``sqrt(n / (n − 1))``, 1.6 % at ``n = 32``).

References:
    [O23] §6.1.1 and Table 2 (per-pixel standard deviation over 32 samples).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust._checks import check_batch, check_finite, check_generator, check_int, check_tensor
from stochrobust._deprecate import keyword_only_generator, renamed
from stochrobust.errors import ModelError, ShapeError
from stochrobust.estimator import Estimator, as_estimator

__all__ = ["dataset_per_pixel_std", "per_pixel_std"]


def _std(samples: torch.Tensor, unbiased: bool) -> torch.Tensor:
    std = samples.std(dim=1, correction=1 if unbiased else 0)
    return std.flatten(1).mean(dim=1)


def per_pixel_std(samples: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Per-pixel standard deviation over the samples of each input, averaged over pixels.

    ``out[b] = mean_p std_i samples[b, i, p]`` where ``p`` runs over every entry of one
    sample (channels and pixels) and the std is taken over the ``n`` samples ``i``.
    Differentiable (e.g. as a diversity term in a loss).

    Args:
        samples: ``(B, n, C, H, W)`` images, or any ``(B, n, *)`` with at least one entry
            per sample (e.g. ``(B, n, D)`` points of the toy problems), ``n ≥ 2``.
        unbiased: divide by ``n − 1`` (default, Bessel's correction) instead of ``n``.

    Returns:
        ``(B,)`` in the dtype and on the device of ``samples``.

    Raises:
        ShapeError: fewer than 3 dims, an empty batch or sample, or ``n < 2`` (a standard
            deviation over one sample is undefined, not 0).
        NonFiniteError: NaN or Inf in ``samples``.

    Shape:
        - ``samples``: ``(B, n, *)``; output: ``(B,)``.

    References:
        [O23] §6.1.1, Table 2.

    Examples:
        >>> s = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])  # n = 2 samples
        >>> per_pixel_std(s.unsqueeze(0), unbiased=False).tolist()
        [0.5]
    """
    t = check_tensor(samples, "samples")
    if t.ndim < 3 or 0 in t.shape:
        raise ShapeError(
            f"samples: expected a non-empty (B, n, C, H, W) or (B, n, *) tensor, "
            f"got shape {tuple(t.shape)}"
        )
    if t.shape[1] < 2:
        raise ShapeError(
            f"samples: expected n >= 2 samples per input along dim 1 (a std over one "
            f"sample is undefined), got shape {tuple(t.shape)}"
        )
    check_finite(t, "samples")
    return _std(t, unbiased)


@renamed(inputs="y", n="n_seeds")
@keyword_only_generator
def dataset_per_pixel_std(
    estimator: Estimator | Callable[..., torch.Tensor],
    y: torch.Tensor,
    n_seeds: int = 32,
    batch_size: int = 16,
    *,
    generator: torch.Generator | None = None,
    unbiased: bool = True,
) -> torch.Tensor:
    """Mean per-pixel standard deviation of an estimator's outputs over a set of inputs.

    For each input, ``n = n_seeds`` outputs are drawn with :meth:`Estimator.sample` (one fused model
    call per chunk, no loop over samples) under ``torch.no_grad()``; the value is the mean
    over the inputs of :func:`per_pixel_std`. Inputs are processed ``batch_size`` at a time,
    so at most ``batch_size · n`` outputs are held at once. A raw model is wrapped as a
    deterministic estimator and scores 0.

    Args:
        estimator: an :class:`~stochrobust.Estimator` (or a model ``G(y)``).
        y: measurements ``(N, *in_shape)`` (``inputs=``: deprecated 0.1 spelling).
        n_seeds: outputs (seeds) per input, ``≥ 2`` ([O23]: 32; ``n=``: deprecated 0.1
            spelling).
        batch_size: inputs per :meth:`Estimator.sample` call.
        generator: random generator for the seeds, keyword-only (positional: deprecated 0.1
            use); ``None`` draws from torch's global generator. The same state gives the
            same result.
        unbiased: divide by ``n − 1`` (default) instead of ``n``.

    Returns:
        A 0-d float64 tensor on the outputs' device.

    Raises:
        ShapeError: ``y`` is empty.
        NonFiniteError: NaN or Inf in ``y``.
        ModelError: the estimator returns NaN or Inf.
        RangeError: ``n_seeds < 2`` or ``batch_size < 1``.
        StochRobustTypeError: a wrong argument type.

    Shape:
        - ``y``: ``(N, *in_shape)``; output: ``()``.

    References:
        [O23] §6.1.1, Table 2 (32 samples per input).

    Examples:
        >>> est = Estimator(lambda y, z: y + 0.1 * z, seed_shape=(1, 8, 8))
        >>> ys = torch.zeros(6, 1, 8, 8)
        >>> gen = torch.Generator().manual_seed(0)
        >>> round(float(dataset_per_pixel_std(est, ys, n_seeds=32, generator=gen)), 1)
        0.1
    """
    est = as_estimator(estimator)
    ys = check_batch(y, "y")
    nn_ = check_int(n_seeds, "n_seeds", minimum=2)
    bs = check_int(batch_size, "batch_size", minimum=1)
    check_generator(generator)
    parts = []
    with est.guarded("dataset_per_pixel_std", arg="estimator"), torch.no_grad():
        for start in range(0, ys.shape[0], bs):
            out = est.sample(ys[start : start + bs], nn_, generator=generator)
            if out.ndim == 2:  # scalar outputs (B, n): one "pixel" each
                out = out.unsqueeze(-1)
            parts.append(_std(out, unbiased).to(torch.float64))
    value = torch.cat([p.to(parts[0].device) for p in parts]).mean()
    if not bool(torch.isfinite(value)):
        raise ModelError("estimator: expected finite outputs, got NaN or Inf")
    return value
