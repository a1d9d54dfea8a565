"""Streaming moment states: diversity, Fréchet statistics, PSNR and SSIM means.

Each class is a :class:`~stochrobust.metrics.streaming.MetricState` (``update`` /
``value`` / ``compute`` / ``merge`` / ``sync`` / ``reset``) whose ``compute()`` over any
number of ranks equals the function of the same name on the concatenated data in one
process, to float reduction order (the counting states are in
:mod:`stochrobust.metrics.counting`).

References:
    [O23] §6.1.1 (per-pixel std over 32 samples), eq. 9 (PSNR); Heusel et al. 2017 (FID);
    Chan et al. 1979.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist

from stochrobust._checks import check_features, check_tensor
from stochrobust.errors import ShapeError
from stochrobust.metrics.frechet import gaussian_w2
from stochrobust.metrics.quality import psnr, ssim
from stochrobust.metrics.streaming import MeanState, MetricState, chan_merge

__all__ = ["FrechetState", "PSNRState", "PixelStdState", "SSIMState"]

_Group = dist.ProcessGroup | None
_EMPTY = torch.zeros(0, dtype=torch.float64)


def _moments(x: torch.Tensor, outer: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(count, mean, M2)`` of the rows of ``x`` (dim 0), float64, two-pass."""
    x64 = x.detach().to(torch.float64)
    mean = x64.mean(0)
    c = x64 - mean
    m2 = c.mT @ c if outer else c.square().sum(0)
    return x64.new_tensor(float(x64.shape[0])), mean, m2


class PixelStdState(MetricState):
    """Per-pixel std of a fixed batch of inputs, streamed over chunks of samples.

    ``update(samples)`` adds ``(B, n_i, *)`` further samples of the same ``B`` inputs (e.g.
    seeds drawn chunk by chunk, or on different ranks); per pixel the count, mean and
    ``M2`` merge by Chan et al.'s rule, so ``value()`` equals :func:`per_pixel_std` on all
    samples concatenated along dim 1. For a data set split over inputs, average the
    per-input values with a :class:`MeanState` instead.

    Args:
        unbiased: divide by ``n − 1`` (default) instead of ``n``.
        group: process group for :meth:`compute`.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        ShapeError: ``samples`` not ``(B, n, *)`` or a shape different from earlier updates.

    Shape:
        - ``samples``: ``(B, n_i, *)``; output: ``(B,)`` float64.

    References:
        [O23] §6.1.1 and Table 2; Chan et al. 1979.

    Examples:
        >>> from stochrobust.metrics import per_pixel_std
        >>> s = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(0))
        >>> st = PixelStdState(); st.update(s[:, :2]); st.update(s[:, 2:])
        >>> torch.allclose(st.compute(), per_pixel_std(s).double())
        True
    """

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    def __init__(
        self, unbiased: bool = True, *, group: _Group = None, sync_on_compute: bool = True
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        self.unbiased = unbiased
        self.add_state("count", torch.zeros((), dtype=torch.float64), "custom")
        self.add_state("mean", _EMPTY, "custom")
        self.add_state("m2", _EMPTY, "custom")

    def update(self, samples: torch.Tensor) -> None:
        """Add samples ``(B, n_i, *)`` of the same inputs.

        Args:
            samples: further samples; ``B`` and ``*`` equal across updates.
        """
        t = check_tensor(samples, "samples")
        if t.ndim < 3 or 0 in t.shape:
            raise ShapeError(
                f"samples: expected a non-empty (B, n, *) tensor, got {tuple(t.shape)}"
            )
        if self.mean.numel() and self.mean.shape != (t.shape[0], *t.shape[2:]):
            raise ShapeError(
                f"samples: expected (B, n, *) with B, * = {tuple(self.mean.shape)} like "
                f"earlier updates, got {tuple(t.shape)}"
            )
        n, mean, m2 = _moments(t.transpose(0, 1), outer=False)
        here = (self.count.to(t.device), self.mean.to(t.device), self.m2.to(t.device))
        self.count, self.mean, self.m2 = chan_merge(here, (n, mean, m2))

    def merge_custom(self, other: PixelStdState) -> None:
        """Chan-merge ``other``'s per-pixel moments into this state."""
        mine, theirs = (self.count, self.mean, self.m2), (other.count, other.mean, other.m2)
        self.count, self.mean, self.m2 = chan_merge(mine, theirs)

    def value(self) -> torch.Tensor:
        """Per-input mean over pixels of the per-pixel std, ``(B,)`` float64."""
        var = self.m2 / (self.count - (1 if self.unbiased else 0))
        return var.sqrt().flatten(1).mean(1)


class FrechetState(MetricState):
    """Streaming Fréchet (FID) statistics of two feature sets: float64 means and covariances.

    ``update(feats_a=..., feats_b=...)`` adds rows to either set; moments merge by Chan et
    al.'s rule (stable for features far from the origin). ``value()`` equals
    :func:`frechet_distance` on the concatenated sets (squared, FID convention).

    Args:
        group: process group for :meth:`compute`.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        ShapeError: features not ``(N, D)``, or ``D`` different from earlier updates.

    Shape:
        - ``feats_a``: ``(N_i, D)``, ``feats_b``: ``(M_i, D)``; output: ``()``.

    References:
        Heusel et al. 2017; Dowson & Landau 1982; [O23] §2.1.

    Examples:
        >>> from stochrobust.metrics import frechet_distance
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(50, 3, generator=g), torch.randn(40, 3, generator=g) + 1
        >>> st = FrechetState(); st.update(feats_a=a[:20], feats_b=b); st.update(feats_a=a[20:])
        >>> torch.allclose(st.compute(), frechet_distance(a, b))
        True
    """

    count_a: torch.Tensor
    mean_a: torch.Tensor
    m2_a: torch.Tensor
    count_b: torch.Tensor
    mean_b: torch.Tensor
    m2_b: torch.Tensor

    def __init__(self, *, group: _Group = None, sync_on_compute: bool = True) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        for side in ("a", "b"):
            self.add_state(f"count_{side}", torch.zeros((), dtype=torch.float64), "custom")
            self.add_state(f"mean_{side}", _EMPTY, "custom")
            self.add_state(f"m2_{side}", _EMPTY, "custom")

    def _side(self, side: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            getattr(self, f"count_{side}"),
            getattr(self, f"mean_{side}"),
            getattr(self, f"m2_{side}"),
        )

    def _set(self, side: str, moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        for name, t in zip(("count", "mean", "m2"), moments, strict=True):
            setattr(self, f"{name}_{side}", t)

    def update(
        self, feats_a: torch.Tensor | None = None, feats_b: torch.Tensor | None = None
    ) -> None:
        """Add rows to the first and/or the second set.

        Args:
            feats_a: features ``(N_i, D)`` of the first set, or ``None``.
            feats_b: features ``(M_i, D)`` of the second set, or ``None``.
        """
        for side, feats in (("a", feats_a), ("b", feats_b)):
            if feats is None:
                continue
            x = check_features(feats, f"feats_{side}")
            known = [m.shape[0] for m in (self.mean_a, self.mean_b) if m.numel()]
            if known and x.shape[1] != known[0]:
                raise ShapeError(
                    f"feats_{side}: expected feature dimension {known[0]}, got {tuple(x.shape)}"
                )
            here = tuple(t.to(x.device) for t in self._side(side))
            self._set(side, chan_merge(here, _moments(x, outer=True), outer=True))  # type: ignore[arg-type]

    def merge_custom(self, other: FrechetState) -> None:
        """Chan-merge ``other``'s means and scatter matrices into this state."""
        for side in ("a", "b"):
            self._set(side, chan_merge(self._side(side), other._side(side), outer=True))

    def value(self) -> torch.Tensor:
        """Squared Fréchet distance of the two Gaussians fitted so far, 0-d float64.

        Raises:
            ShapeError: a set has fewer than 2 rows.
        """
        for side in ("a", "b"):
            if float(getattr(self, f"count_{side}")) < 2:
                raise ShapeError(f"feats_{side}: expected at least 2 samples in total")
        cov_a = self.m2_a / (self.count_a - 1)
        cov_b = self.m2_b / (self.count_b - 1)
        return gaussian_w2(self.mean_a, cov_a, self.mean_b, cov_b, squared=True)


class _PairMeanState(MeanState):
    """A :class:`MeanState` of a per-sample metric ``metric(x, y, data_range=...)``."""

    data_range: float
    _metric: Callable[..., torch.Tensor]

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:  # type: ignore[override]
        """Add the per-sample values of the metric for a batch.

        Args:
            x: the batch, ``(N, *)`` (images ``(N, C, H, W)`` in ``[0, data_range]`` for SSIM).
            y: the reference batch, same shape.
        """
        super().update(self._metric(x, y, data_range=self.data_range))


class PSNRState(_PairMeanState):
    """Mean PSNR over a data set (e.g. [O23] eq. 9 with ``y = x̂(y + δ)``), streaming.

    Args:
        data_range: peak-to-peak value range, as in :func:`psnr`.
        group: process group for :meth:`compute`.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        ShapeError: ``x`` and ``y`` differ in shape.

    Shape:
        - ``x``, ``y``: ``(N, *)``; output: ``()`` float64 (``inf`` if a pair is identical).

    References:
        [O23] eq. 9.

    Examples:
        >>> st = PSNRState(); st.update(torch.zeros(2, 4), torch.full((2, 4), 0.1))
        >>> round(float(st.compute()), 6)
        20.0
    """

    _metric = staticmethod(psnr)

    def __init__(
        self, data_range: float = 1.0, *, group: _Group = None, sync_on_compute: bool = True
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        self.data_range = data_range


class SSIMState(_PairMeanState):
    """Mean SSIM over a data set, streaming (per-sample values of :func:`ssim`).

    Args:
        data_range: peak value, as in :func:`ssim`.
        group: process group for :meth:`compute`.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        ShapeError: images not 4-D or of different shapes.

    Shape:
        - ``x``, ``y``: ``(N, C, H, W)``; output: ``()`` float64.

    References:
        Wang et al. 2004 (SSIM); [O23] §6.1.1.

    Examples:
        >>> x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> st = SSIMState(); st.update(x, x); round(float(st.compute()), 6)
        1.0
    """

    _metric = staticmethod(ssim)

    def __init__(
        self, data_range: float = 1.0, *, group: _Group = None, sync_on_compute: bool = True
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        self.data_range = data_range
