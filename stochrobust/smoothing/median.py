"""The median-smoothing module: CertSR inference as an ``nn.Module``.

:class:`MedianSmoothing` holds the configuration (base model, σ, sample counts, batching,
clipping) and calls :func:`~stochrobust.smoothing.smoothed_percentile` and
:func:`~stochrobust.smoothing.certify_percentile`.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.1–4.2, Lemma 4.1.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from stochrobust._checks import check_callable, check_int, check_positive
from stochrobust._deprecate import keyword_only_generator, renamed
from stochrobust._guard import guard
from stochrobust.smoothing.certify import SmoothingCertificate, certify_percentile
from stochrobust.smoothing.sampling import (
    Model,
    check_output_box,
    sample_noisy_outputs,
    smoothed_percentile,
)

__all__ = ["MedianSmoothing"]

_T = TypeVar("_T")


class MedianSmoothing(nn.Module):
    """Median randomized smoothing of a restoration model ([C24] §4, CertSR inference).

    ``forward(y)`` is the per-pixel Monte-Carlo median of ``model(y + σg)`` over
    ``n_samples`` Gaussian draws, evaluated fused (one ``(B·n)`` batch, chunked by
    ``max_batch``). :meth:`certify` gives certified bounds from fresh samples.

    Args:
        model: the base model ``f`` (``nn.Module``, callable, or an
            :class:`~stochrobust.Estimator`; a stochastic one gets one seed per noisy copy,
            drawn from the same generator as the noise); evaluated in eval mode on
            clones of its buffers, its state is restored after every call.
        sigma: smoothing noise standard deviation (``> 0``; CertSR: 0.03–0.07 for images in
            ``[0, 1]``).
        n_samples: Monte-Carlo samples for predictions (CertSR: 21).
        max_batch: most rows per model call (``None``: one call).
        box: optional output clamp ``(lo, hi)``, e.g. ``(0.0, 1.0)``, applied to every
            sample in predictions and certificates alike (``clip=`` is the deprecated 0.1
            spelling).

    Raises:
        RangeError: ``sigma ≤ 0``, ``n_samples < 1``, ``max_batch < 1``, ``lo > hi``.
        StochRobustTypeError: ``model`` not callable or a malformed ``box``.

    Shape:
        - input ``(B, *in_shape)``; output ``(B, *out_shape)``.

    References:
        [C24] §4.1–4.2 and Lemma 4.1; [Ch20] (median smoothing and its certificate).

    Examples:
        >>> smooth = MedianSmoothing(torch.nn.Identity(), sigma=0.05, box=(0.0, 1.0))
        >>> y = torch.rand(2, 3, 8, 8)
        >>> smooth(y, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3, 8, 8])
    """

    @renamed(clip="box")
    def __init__(
        self,
        model: Model,
        sigma: float,
        n_samples: int = 21,
        max_batch: int | None = None,
        box: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        check_callable(model, "model")
        self.model = model
        self.sigma = check_positive(sigma, "sigma")
        self.n_samples = check_int(n_samples, "n_samples", minimum=1)
        self.max_batch = None if max_batch is None else check_int(max_batch, "max_batch", minimum=1)
        self.box = check_output_box(box)

    @property
    def clip(self) -> tuple[float, float] | None:
        """Deprecated 0.1 name of :attr:`box` (warns ``DeprecationWarning``)."""
        warnings.warn(
            "MedianSmoothing.clip is deprecated since 0.2, use MedianSmoothing.box",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.box

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return (
            f"sigma={self.sigma:g}, n_samples={self.n_samples}, max_batch={self.max_batch}, "
            f"box={self.box}"
        )

    def _call(
        self,
        entry: str,
        function: Callable[..., _T],
        y: torch.Tensor,
        *args: object,
        generator: torch.Generator | None,
        **kwargs: object,
    ) -> _T:
        """``function(model, y, *args, ...)`` with this module's batching and box, guarded."""
        with guard(self.model, entry=f"MedianSmoothing.{entry}", arg="model", freeze=False):
            return function(
                self.model,
                y,
                *args,
                generator=generator,
                max_batch=self.max_batch,
                box=self.box,
                **kwargs,
            )

    @renamed(x="y")
    @keyword_only_generator
    def forward(self, y: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Monte-Carlo median ``X(⌈n/2⌉)`` of ``model(y + σg)``, per output coordinate.

        Args:
            y: inputs ``(B, ...)`` (``x=``: deprecated 0.1 spelling).
            generator: random generator for the noise, keyword-only (positional:
                deprecated 0.1 use); ``None`` draws from torch's global generator.

        Returns:
            ``(B, *out_shape)``.

        Raises:
            NonFiniteError: ``y`` or a sample of the model output holds NaN or Inf.
            ModelError: the model raises (chained) or returns a wrong batch or dtype.

        Examples:
            >>> m = MedianSmoothing(lambda x: 2 * x, sigma=0.1, n_samples=5)
            >>> m(torch.zeros(1, 4)).shape
            torch.Size([1, 4])
        """
        return self._call(
            "forward", smoothed_percentile, y, self.sigma, 0.5, self.n_samples, generator=generator
        )

    @renamed(x="y")
    @keyword_only_generator
    def sample(
        self,
        y: torch.Tensor,
        n_samples: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The raw (clamped) samples ``model(y + σg)``, ``(B, n, *out_shape)``.

        Args:
            y: inputs ``(B, ...)`` (``x=``: deprecated 0.1 spelling).
            n_samples: samples per input (default: the module's ``n_samples``).
            generator: random generator for the noise, keyword-only (positional:
                deprecated 0.1 use); ``None`` draws from torch's global generator.

        Returns:
            ``(B, n, *out_shape)``.

        Examples:
            >>> m = MedianSmoothing(torch.nn.Identity(), sigma=0.1, n_samples=3)
            >>> m.sample(torch.zeros(2, 4)).shape
            torch.Size([2, 3, 4])
        """
        n = self.n_samples if n_samples is None else n_samples
        return self._call("sample", sample_noisy_outputs, y, self.sigma, n, generator=generator)

    @renamed(x="y")
    @keyword_only_generator
    def percentile(
        self,
        y: torch.Tensor,
        p: float,
        n_samples: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Monte-Carlo ``p``-percentile ``X(⌈p·n⌉)`` of ``model(y + σg)``.

        Args:
            y: inputs ``(B, ...)`` (``x=``: deprecated 0.1 spelling).
            p: percentile level in ``(0, 1)``.
            n_samples: samples per input (default: the module's ``n_samples``).
            generator: random generator for the noise, keyword-only (positional:
                deprecated 0.1 use); ``None`` draws from torch's global generator.

        Returns:
            ``(B, *out_shape)``.

        Raises:
            RangeError: ``p`` outside ``(0, 1)`` or ``n_samples < 1``.

        Examples:
            >>> m = MedianSmoothing(torch.nn.Identity(), sigma=1.0, n_samples=1001)
            >>> g = torch.Generator().manual_seed(0)
            >>> bool(m.percentile(torch.zeros(1, 1), 0.9, generator=g) > 1.0)  # Φ⁻¹(0.9)≈1.28
            True
        """
        n = self.n_samples if n_samples is None else n_samples
        return self._call(
            "percentile", smoothed_percentile, y, self.sigma, p, n, generator=generator
        )

    @renamed(x="y")
    @keyword_only_generator
    def certify(
        self,
        y: torch.Tensor,
        eps: float,
        n_samples: int = 2000,
        alpha: float = 1e-3,
        simultaneous: bool = False,
        p: float = 0.5,
        *,
        generator: torch.Generator | None = None,
    ) -> SmoothingCertificate:
        """Certified bounds on the smoothed median (percentile) for ``‖δ‖₂ < eps``.

        See :func:`certify_percentile`. Draws fresh samples: pass a generator dedicated to
        certification, not the one used for predictions or to choose σ.

        Args:
            y: inputs ``(B, ...)`` (``x=``: deprecated 0.1 spelling).
            eps: L2 radius (``≥ 0``).
            n_samples: certification samples (Chiang et al. 2020: 2000).
            alpha: failure probability in ``(0, 1)``.
            simultaneous: joint guarantee over all output coordinates and both sides.
            p: percentile level (``0.5``: the median).
            generator: random generator for the certification noise, keyword-only
                (positional: deprecated 0.1 use); ``None`` draws from torch's global
                generator.

        Returns:
            A :class:`SmoothingCertificate`.

        Examples:
            >>> m = MedianSmoothing(torch.nn.Identity(), sigma=0.25)
            >>> g = torch.Generator().manual_seed(0)
            >>> c = m.certify(torch.zeros(1, 2), eps=0.25, generator=g)
            >>> c.indices
            (268, 1733)
        """
        return self._call(
            "certify",
            certify_percentile,
            y,
            eps,
            self.sigma,
            n_samples=n_samples,
            alpha=alpha,
            p=p,
            simultaneous=simultaneous,
            generator=generator,
        )
