"""Shared helpers of the consistency tests: random operators and their dense matrices."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import strategies as st

from stochrobust.consistency import (
    AvgPoolDownsample,
    BlurDownsample,
    Colorization,
    Inpainting,
    LinearOperator,
    PartialCirculant,
)

KINDS = ("inpainting", "avgpool", "blur", "circulant", "colorization")

Case = tuple[LinearOperator, tuple[int, int, int, int], torch.Generator]


def dense_matrix(op: LinearOperator, shape: tuple[int, ...]) -> torch.Tensor:
    """The matrix of ``op`` for one image of shape ``shape[1:]``, built column by column
    by applying ``A`` to the standard basis (float64)."""
    n = 1
    for s in shape[1:]:
        n *= s
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    return op.A(basis).reshape(n, -1).T.contiguous()


@st.composite
def operator_cases(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS, max_side: int = 4) -> Case:
    """A random operator of one of ``kinds`` with a compatible image shape (odd and even
    sizes, 1 or 3 channels) and a generator seeded by hypothesis."""
    kind = draw(st.sampled_from(kinds))
    n = draw(st.integers(1, 3))
    c = draw(st.sampled_from([1, 3]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    op: LinearOperator
    if kind == "inpainting":
        h, w = draw(st.integers(1, 2 * max_side)), draw(st.integers(1, 2 * max_side))
        mshape = draw(st.sampled_from([(h, w), (c, h, w), (1, c, h, w), (n, 1, h, w)]))
        op = Inpainting(torch.rand(mshape, generator=gen) < 0.5)
    elif kind in ("avgpool", "blur"):
        s = draw(st.integers(1, 3))
        h, w = s * draw(st.integers(1, max_side)), s * draw(st.integers(1, max_side))
        if kind == "avgpool":
            op = AvgPoolDownsample(s)
        else:
            kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
            k = torch.randn(kh, kw, generator=gen, dtype=torch.float64)
            k = k - k.mean() + 1.0 / (kh * kw)  # sums to 1, may have negative entries
            op = BlurDownsample(k, s)
    elif kind == "circulant":
        h, w = draw(st.integers(1, max_side + 1)), draw(st.integers(1, max_side + 1))
        m = draw(st.integers(1, c * h * w))
        op = PartialCirculant((c, h, w), m, generator=gen)
    else:
        c = draw(st.integers(1, 4))
        h, w = draw(st.integers(1, 2 * max_side)), draw(st.integers(1, 2 * max_side))
        op = Colorization(torch.rand(c, generator=gen, dtype=torch.float64) + 0.1)
    return op, (n, c, h, w), gen


@pytest.fixture(scope="session")
def dense() -> Callable[[LinearOperator, tuple[int, ...]], torch.Tensor]:
    """:func:`dense_matrix` (session-scoped, so hypothesis tests may use it)."""
    return dense_matrix


@pytest.fixture(scope="session")
def cases() -> Callable[..., st.SearchStrategy[Case]]:
    """:func:`operator_cases`, for ``data.draw(cases(...))`` inside hypothesis tests."""
    return operator_cases
