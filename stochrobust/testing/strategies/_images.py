"""Image strategies: batches in ``[0, 1]`` and super-resolution pairs of factor and images.

Internal to :mod:`stochrobust.testing.strategies`, which re-exports :func:`images` and
:func:`sr_scales_and_images`.

References:
    [O23] §6.1.1 (images in ``[0, 1]``; super-resolution by ×4, ×8, ×16).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from hypothesis import strategies as st

from stochrobust._checks import check_int
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.testing.strategies._common import (
    IntRange,
    dtypes_of,
    int_range,
    seeded_generator,
)

__all__ = ["Kind", "images", "sr_scales_and_images"]

Kind = Literal["uniform", "constant", "binary"]
_KINDS: tuple[Kind, ...] = ("uniform", "constant", "binary")


@st.composite
def _images(
    draw: st.DrawFn,
    sizes: tuple[tuple[int, int], ...],
    dtypes: list[torch.dtype],
    kinds: tuple[str, ...],
) -> torch.Tensor:
    shape = tuple(draw(st.integers(lo, hi)) for lo, hi in sizes)
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(kinds))
    if kind == "constant":
        return torch.full(shape, draw(st.floats(0.0, 1.0)), dtype=dtype)
    gen = seeded_generator(draw)
    if kind == "binary":
        return (torch.rand(shape, generator=gen) < 0.5).to(dtype)
    return torch.rand(shape, generator=gen, dtype=dtype)


def images(
    *,
    batch: IntRange = (1, 4),
    channels: IntRange = (1, 3),
    height: IntRange = (4, 16),
    width: IntRange = (4, 16),
    dtype: torch.dtype | Sequence[torch.dtype] = torch.float32,
    kinds: Sequence[Kind] = _KINDS,
) -> st.SearchStrategy[torch.Tensor]:
    """Image batches ``(B, C, H, W)`` with values in ``[0, 1]``.

    Each size is an integer or an inclusive range ``(low, high)``. Contents: ``"uniform"``
    noise in ``[0, 1)``, a ``"constant"`` image (any value in ``[0, 1]``, the ends included)
    or ``"binary"`` values ``{0, 1}`` (both ends of the range at once).

    Args:
        batch: ``B`` (``≥ 1``).
        channels: ``C`` (``≥ 1``).
        height: ``H`` (``≥ 1``).
        width: ``W`` (``≥ 1``).
        dtype: a floating dtype, or a sequence to draw from (e.g. float32 and float64).
        kinds: the contents to draw from.

    Returns:
        A strategy of CPU tensors.

    Raises:
        StochRobustTypeError: a malformed size, dtype or kind.
        RangeError: a size below 1 or a range with ``low > high``.

    References:
        [O23] §6.1.1 (images in ``[0, 1]``).

    Examples:
        >>> from hypothesis import given
        >>> @given(images(batch=2, channels=3, height=(4, 8), width=(4, 8)))
        ... def test_range(x):
        ...     assert x.shape[:2] == (2, 3) and 0 <= x.min() and x.max() <= 1
        >>> test_range()
    """
    sizes = (
        int_range(batch, "batch"),
        int_range(channels, "channels"),
        int_range(height, "height"),
        int_range(width, "width"),
    )
    kind_list = tuple(kinds)
    if not kind_list or any(k not in _KINDS for k in kind_list):
        raise StochRobustTypeError(f"kinds: expected a non-empty subset of {_KINDS}, got {kinds!r}")
    return _images(sizes, dtypes_of(dtype), kind_list)


@st.composite
def _sr(
    draw: st.DrawFn,
    scales: tuple[int, ...],
    lr_sizes: tuple[tuple[int, int], tuple[int, int]],
    batch: tuple[int, int],
    channels: tuple[int, int],
    dtypes: list[torch.dtype],
) -> tuple[int, torch.Tensor]:
    s = draw(st.sampled_from(scales))
    h, w = draw(st.integers(*lr_sizes[0])), draw(st.integers(*lr_sizes[1]))
    x = draw(_images((batch, channels, (s * h, s * h), (s * w, s * w)), dtypes, _KINDS))
    return s, x


def sr_scales_and_images(
    scales: Sequence[int] = (2, 3, 4),
    *,
    lr_height: IntRange = (1, 8),
    lr_width: IntRange = (1, 8),
    batch: IntRange = (1, 3),
    channels: IntRange = (1, 3),
    dtype: torch.dtype | Sequence[torch.dtype] = torch.float32,
) -> st.SearchStrategy[tuple[int, torch.Tensor]]:
    """A super-resolution factor ``s`` and high-resolution images whose sizes it divides.

    Draws ``s`` from ``scales`` and a low-resolution size ``(h, w)``, then images of size
    ``(s·h, s·w)`` in ``[0, 1]`` (as :func:`images`); degrade them with
    ``AvgPoolDownsample(s)`` to get the low-resolution input.

    Args:
        scales: the factors to draw from (each ``≥ 1``; the paper: 4, 8, 16).
        lr_height: low-resolution height ``h`` or a range.
        lr_width: low-resolution width ``w`` or a range.
        batch: ``B`` or a range.
        channels: ``C`` or a range.
        dtype: a floating dtype or a sequence of them.

    Returns:
        A strategy of ``(s, x)`` with ``x`` a CPU tensor ``(B, C, s·h, s·w)``.

    Raises:
        StochRobustTypeError: a malformed argument.
        RangeError: a factor or size below 1, or no factor.

    References:
        [O23] §6.1.1 (super-resolution by plain averaging with factors 4, 8, 16).

    Examples:
        >>> from hypothesis import given
        >>> @given(sr_scales_and_images(scales=(4, 8), lr_height=2, lr_width=(1, 3)))
        ... def test_divisible(pair):
        ...     s, x = pair
        ...     assert x.shape[-2] == 2 * s and x.shape[-1] % s == 0
        >>> test_divisible()
    """
    if isinstance(scales, int) or not isinstance(scales, Sequence) or not scales:
        raise RangeError(f"scales: expected a non-empty sequence of integers, got {scales!r}")
    factors = tuple(check_int(s, "scales", minimum=1) for s in scales)
    return _sr(
        factors,
        (int_range(lr_height, "lr_height"), int_range(lr_width, "lr_width")),
        int_range(batch, "batch"),
        int_range(channels, "channels"),
        dtypes_of(dtype),
    )
