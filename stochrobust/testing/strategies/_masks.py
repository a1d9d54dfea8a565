"""Inpainting-mask strategies: random masks and the paper's "upper fraction masked" masks.

Internal to :mod:`stochrobust.testing.strategies`, which re-exports
:func:`inpainting_masks`.

References:
    [O23] §6.1.1 (the upper 3/4 of 64×64 images masked).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from hypothesis import strategies as st

from stochrobust.errors import RangeError
from stochrobust.testing.strategies._common import (
    IntRange,
    fraction_range,
    int_range,
    seeded_generator,
)

__all__ = ["inpainting_masks"]


@st.composite
def _masks(
    draw: st.DrawFn,
    heights: tuple[int, int],
    widths: tuple[int, int],
    kinds: tuple[str, ...],
    fractions: dict[str, tuple[float, float]],
) -> torch.Tensor:
    h, w = draw(st.integers(*heights)), draw(st.integers(*widths))
    kind = draw(st.sampled_from(kinds))
    lo, hi = fractions[kind]
    frac = lo if lo == hi else draw(st.floats(lo, hi))
    observed = torch.ones(h, w, dtype=torch.bool)
    if kind == "upper":
        observed[: math.floor(frac * h + 0.5)] = False
        return observed
    k = math.floor(frac * h * w + 0.5)
    hidden = torch.randperm(h * w, generator=seeded_generator(draw))[:k]
    observed.view(-1)[hidden] = False
    return observed


def inpainting_masks(
    height: IntRange = (4, 16),
    width: IntRange = (4, 16),
    *,
    kind: Literal["random", "upper", "any"] = "any",
    masked_fraction: float | tuple[float, float] | None = None,
) -> st.SearchStrategy[torch.Tensor]:
    """Inpainting masks ``(H, W)``: bool, ``True`` = observed (as in ``Inpainting``).

    ``"random"``: ``round(f·H·W)`` pixels masked at random positions, ``f`` drawn from
    ``masked_fraction`` (default ``(0, 1)``), so the masked fraction is within ``1/(2HW)``
    of ``f``. ``"upper"``: the top ``round(f·H)`` rows masked, the paper's set-up
    (default ``f = 0.75``: the upper 3/4 of the image), so the masked fraction is within
    ``1/(2H)`` of ``f``. ``"any"``: either.

    Args:
        height: ``H`` or a range.
        width: ``W`` or a range.
        kind: ``"random"``, ``"upper"`` or ``"any"``.
        masked_fraction: a fraction in ``[0, 1]`` or a range of them (``None``: the
            defaults above).

    Returns:
        A strategy of bool CPU tensors ``(H, W)``.

    Raises:
        StochRobustTypeError: a malformed size.
        RangeError: an unknown kind, a size below 1 or a fraction outside ``[0, 1]``.

    References:
        [O23] §6.1.1 (the upper 3/4 of 64×64 images masked).

    Examples:
        >>> from hypothesis import given
        >>> @given(inpainting_masks(height=8, width=8, kind="upper"))
        ... def test_paper_mask(m):
        ...     assert (~m).sum() == 48 and bool(m[6:].all())
        >>> test_paper_mask()
    """
    if kind not in ("random", "upper", "any"):
        raise RangeError(f"kind: expected 'random', 'upper' or 'any', got {kind!r}")
    kinds = ("random", "upper") if kind == "any" else (kind,)
    if masked_fraction is None:
        fractions = {"random": (0.0, 1.0), "upper": (0.75, 0.75)}
    else:
        fr = fraction_range(masked_fraction, "masked_fraction")
        fractions = {"random": fr, "upper": fr}
    return _masks(int_range(height, "height"), int_range(width, "width"), kinds, fractions)
