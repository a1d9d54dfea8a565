"""Monte-Carlo percentile smoothing: fused sampling of ``f(y + σg)`` and its percentiles.

The smoothed model replaces each output coordinate of ``f`` by the ``p``-percentile of
``f(y + σg)``, ``g ~ N(0, I)`` (the median for ``p = 0.5``), estimated by Monte Carlo with
``n`` noisy copies evaluated fused through :class:`~stochrobust.Estimator` ([C24] §4.1).

Conventions shared by the whole subpackage:

- the empirical ``p``-percentile of ``n`` samples is the order statistic ``X(⌈p·n⌉)``
  (1-based, :func:`~stochrobust.smoothing.percentile_index`);
- the noise for input ``b`` and sample ``k`` is row ``b·n + k`` of one draw
  ``torch.randn((B·n, *y.shape[1:]), generator=generator)`` in ``y``'s dtype; for a
  stochastic :class:`~stochrobust.Estimator` the seeds ``z_bk`` are drawn next from the
  same generator (:meth:`~stochrobust.Estimator.sample_seeds` with ``n`` seeds per input)
  and sample ``k`` is ``G(y_b + σg_bk, z_bk)``: one fused call for noise and seeds;
- the base model is evaluated under the model-state guard (eval mode, buffers protected)
  and left exactly as it was;
- ``box=(lo, hi)`` makes the base model ``clamp(f(·), lo, hi)`` for predictions and
  certificates alike (``clip=`` is its deprecated 0.1 spelling; ``x=`` of ``y=``);
- a non-finite sample raises :class:`~stochrobust.NonFiniteError`.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.1–4.2, Lemma 4.1.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from stochrobust._checks import (
    check_batch_input,
    check_callable,
    check_finite,
    check_generator,
    check_int,
    check_number,
    check_positive,
    check_probability,
    describe,
)
from stochrobust._deprecate import renamed
from stochrobust._fused import flatten_seeds
from stochrobust._guard import guard
from stochrobust._seeds import Seeds, draw
from stochrobust.errors import NonFiniteError, StochRobustTypeError
from stochrobust.estimator import Estimator
from stochrobust.smoothing.certificates import percentile_index

__all__ = ["Model", "check_output_box", "sample_noisy_outputs", "smoothed_percentile"]

Model = Callable[[torch.Tensor], torch.Tensor] | Estimator
"""A base model: a callable mapping a batch ``(B, ...)`` to ``(B, ...)``, or an Estimator."""


def check_output_box(box: object) -> tuple[float, float] | None:
    """Validate an output clamp ``box``: ``None`` or ``(lo, hi)`` with ``lo ≤ hi``."""
    if box is None:
        return None
    if not isinstance(box, (tuple, list)) or len(box) != 2:
        raise StochRobustTypeError(f"box: expected None or a pair (lo, hi), got {describe(box)}")
    lo = check_number(box[0], "box[0]")
    hi = check_number(box[1], "box[1]", low=lo)
    return lo, hi


class _Noisy:
    """``(y, (g, z)) ↦ G(y + σg[, z])``: the base model on noisy inputs (one fused call)."""

    def __init__(self, base: Estimator, sigma: float) -> None:
        self.base, self.sigma = base, sigma

    def __call__(self, y: torch.Tensor, gz: Seeds) -> torch.Tensor:
        if not self.base.is_stochastic:
            assert isinstance(gz, torch.Tensor)
            return self.base(y + self.sigma * gz)
        g, z = gz
        assert isinstance(g, torch.Tensor)
        return self.base(y + self.sigma * g, z)


class _NoiseAndSeeds:
    """Seed sampler of :class:`_Noisy`: the noise rows, then the base model's seeds."""

    def __init__(self, base: Estimator, n: int) -> None:
        self.base, self.n = base, n

    def __call__(self, rows: int, y: torch.Tensor, generator: torch.Generator | None) -> Seeds:
        g = draw(torch.randn, (rows, *y.shape[1:]), generator=generator, dtype=y.dtype,
                 device=y.device)  # fmt: skip
        if not self.base.is_stochastic:
            return g
        seeds = self.base.sample_seeds(y, self.n, generator=generator)
        return g, flatten_seeds(seeds)


def _sample(
    model: Model,
    y: torch.Tensor,
    sigma: float,
    n: int,
    generator: torch.Generator | None,
    max_batch: int | None,
    box: tuple[float, float] | None,
) -> torch.Tensor:
    """Validated core of :func:`sample_noisy_outputs`: ``(B, n, *out)``, finite."""
    base = model if isinstance(model, Estimator) else Estimator(model)
    est = Estimator(
        _Noisy(base, sigma), seed_sampler=_NoiseAndSeeds(base, n), max_batch=max_batch,
        modules=(),
    )  # fmt: skip
    out = est.forward_seeds(y, est.sample_seeds(y, n, generator=generator))
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteError(
            f"model output: expected finite values on the noisy inputs y + sigma*g, got "
            f"{int(torch.isnan(out).sum())} NaN and {int(torch.isinf(out).sum())} Inf entries "
            f"in samples of shape {tuple(out.shape)}"
        )
    return out if box is None else out.clamp(box[0], box[1])


@renamed(x="y", clip="box")
def sample_noisy_outputs(
    model: Model,
    y: torch.Tensor,
    sigma: float,
    n_samples: int,
    *,
    generator: torch.Generator | None = None,
    max_batch: int | None = None,
    box: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Evaluate ``model(y + σg)`` on ``n_samples`` Gaussian draws per input, fused.

    The ``B`` inputs are repeated into one ``(B·n)`` batch that goes through the model in
    chunks of at most ``max_batch`` rows (the last chunk holds the remainder: exactly ``n``
    samples per input are evaluated). Differentiable with respect to ``y``. A stochastic
    :class:`~stochrobust.Estimator` gets one seed per noisy copy, drawn from the same
    generator right after the noise and evaluated in the same fused call.

    Args:
        model: the base model ``f`` (``nn.Module``, callable, or an
            :class:`~stochrobust.Estimator`, stochastic or not), evaluated in eval mode.
        y: inputs ``(B, ...)``, finite. (``x=`` is the deprecated 0.1 spelling.)
        sigma: noise standard deviation (``> 0``), in the units of ``y``.
        n_samples: noisy copies per input (``≥ 1``).
        generator: random generator for the noise and seeds (same state → same samples).
        max_batch: most rows per model call (``None``: one call).
        box: ``(lo, hi)`` to clamp every output, or ``None``. (``clip=`` is the
            deprecated 0.1 spelling.)

    Returns:
        Samples ``(B, n, *out_shape)``.

    Raises:
        RangeError: ``sigma ≤ 0``, ``n_samples < 1``, ``max_batch < 1`` or ``lo > hi``.
        NonFiniteError: ``y`` or a model output holds NaN or Inf.
        ShapeError: ``y`` has fewer than 2 dimensions.
        StochRobustTypeError: wrong argument types.
        ModelError: the model raises (chained, naming the entry point and the likely fix)
            or returns something else than a real floating ``(B·n, ...)`` tensor.

    Shape:
        - ``y``: ``(B, *in_shape)``; output: ``(B, n, *out_shape)``.

    References:
        [C24] §4.1 (Monte-Carlo sampling of ``f(y + G)``, ``G ~ N(0, σ²I)``).

    Examples:
        >>> y = torch.zeros(2, 1, 4, 4)
        >>> s = sample_noisy_outputs(torch.nn.Identity(), y, 0.1, 5)
        >>> s.shape
        torch.Size([2, 5, 1, 4, 4])
    """
    with _guarded(model, "sample_noisy_outputs"):
        return _validated_sample(model, y, sigma, n_samples, generator, max_batch, box)


def _guarded(model: object, entry: str) -> contextlib.AbstractContextManager[object]:
    """The smoothing guard: eval mode and protected buffers, parameters left trainable."""
    check_callable(model, "model")
    return guard(model, entry=entry, arg="model", eval_mode=True, freeze=False, buffers=True)


def _validated_sample(
    model: Model,
    y: object,
    sigma: object,
    n_samples: object,
    generator: object,
    max_batch: object,
    box: object,
) -> torch.Tensor:
    yt = check_batch_input(y, "y")
    check_finite(yt, "y")
    s = check_positive(sigma, "sigma")
    n = check_int(n_samples, "n_samples", minimum=1)
    g = check_generator(generator)
    mb = None if max_batch is None else check_int(max_batch, "max_batch", minimum=1)
    return _sample(model, yt, s, n, g, mb, check_output_box(box))


@renamed(x="y", clip="box")
def smoothed_percentile(
    model: Model,
    y: torch.Tensor,
    sigma: float,
    p: float = 0.5,
    n_samples: int = 21,
    *,
    generator: torch.Generator | None = None,
    max_batch: int | None = None,
    box: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Monte-Carlo ``p``-percentile smoothing, per output coordinate.

    Returns the order statistic ``X(⌈p·n⌉)`` of ``n`` samples ``f(y + σg)`` per coordinate:
    for ``p = 0.5`` and odd ``n`` the sample median. Differentiable with respect to ``y``
    (the gradient flows through the selected sample), so attacks on the smoothed model work.

    Args:
        model: the base model ``f`` (callable or :class:`~stochrobust.Estimator`; a
            stochastic one gets one seed per noisy copy).
        y: inputs ``(B, ...)``. (``x=`` is the deprecated 0.1 spelling.)
        sigma: noise standard deviation (``> 0``).
        p: percentile level in ``(0, 1)``.
        n_samples: Monte-Carlo samples (CertSR: 21).
        generator: random generator for the noise.
        max_batch: most rows per model call.
        box: ``(lo, hi)`` output clamp (monotone, so it commutes with the percentile).
            (``clip=`` is the deprecated 0.1 spelling.)

    Returns:
        ``(B, *out_shape)``, in the model's output dtype.

    Raises:
        RangeError: ``sigma ≤ 0``, ``p`` outside ``(0, 1)``, ``n_samples < 1``.
        NonFiniteError: ``y`` or a model output holds NaN or Inf.
        ModelError: as :func:`sample_noisy_outputs`.

    Shape:
        - ``y``: ``(B, *in_shape)``; output: ``(B, *out_shape)``.

    References:
        [C24] §4.1 (``q_{0.5}``) and §4.2 (n = 21 at inference).

    Examples:
        >>> y = torch.full((1, 1, 2, 2), 0.5)
        >>> q = smoothed_percentile(torch.nn.Identity(), y, 0.1, n_samples=2001,
        ...                         generator=torch.Generator().manual_seed(0))
        >>> bool((q - 0.5).abs().max() < 0.02)  # the median of y + σg is y
        True
    """
    p = check_probability(p, "p")
    with _guarded(model, "smoothed_percentile"):
        samples = _validated_sample(model, y, sigma, n_samples, generator, max_batch, box)
    k = percentile_index(samples.shape[1], p)
    return samples.movedim(1, -1).contiguous().kthvalue(k, dim=-1).values
