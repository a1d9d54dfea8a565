"""Hypothesis strategies for property tests of restoration models.

- :func:`images` — batches ``(B, C, H, W)`` in ``[0, 1]`` with sizes in given ranges;
- :func:`perturbations` — ``δ`` inside an L2 / L∞ / L1 ball of radius ``ε`` per sample,
  from the interior to the boundary and the vertices;
- :func:`inpainting_masks` — random masks and the paper's "upper fraction masked" masks;
- :func:`sr_scales_and_images` — a super-resolution factor with high-resolution images
  whose sizes it divides.

Tensor contents come from a :class:`torch.Generator` seeded by a hypothesis draw (drawing
every pixel through hypothesis would be slow), so examples replay and shrink like any other
hypothesis data; shapes, dtypes, kinds and radii are drawn by hypothesis itself. Every
tensor is on the CPU. Needs ``hypothesis`` (the ``test`` extra).

References:
    [O23] §6.1.1 (upper 3/4 masked 64×64 images; super-resolution by ×4, ×8, ×16) and
    App. E.2.3 (the ε-ball of the attack); Duchi et al. 2008 (L1-ball projection); docs:
    sensitivity.md (balls and projections).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "stochrobust.testing.strategies needs hypothesis: "
        "pip install 'stochrobust[test]' (or pip install hypothesis)"
    ) from exc

from stochrobust._checks import (
    RangeError,
    StochRobustTypeError,
    check_int,
    check_number,
    check_positive,
    describe,
)
from stochrobust.sensitivity.projections import check_ball

__all__ = ["images", "inpainting_masks", "perturbations", "sr_scales_and_images"]

IntRange = int | tuple[int, int]
_SEEDS = st.integers(min_value=0, max_value=2**63 - 1)
Kind = Literal["uniform", "constant", "binary"]
_KINDS: tuple[Kind, ...] = ("uniform", "constant", "binary")


def _int_range(value: object, name: str, minimum: int = 1) -> tuple[int, int]:
    if isinstance(value, tuple) and len(value) == 2:
        lo = check_int(value[0], name, minimum=minimum)
        hi = check_int(value[1], name, minimum=minimum)
        if lo > hi:
            raise RangeError(f"{name}: expected a range (low, high) with low <= high, got {value}")
        return lo, hi
    if isinstance(value, tuple):
        raise StochRobustTypeError(f"{name}: expected an integer or (low, high), got {value!r}")
    v = check_int(value, name, minimum=minimum)
    return v, v


def _dtypes(dtype: object) -> list[torch.dtype]:
    items: list[object] = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
    out = [d for d in items if isinstance(d, torch.dtype) and d.is_floating_point]
    if not items or len(out) != len(items):
        raise StochRobustTypeError(
            f"dtype: expected a floating torch.dtype or a sequence of them, got {dtype!r}"
        )
    return out


def _generator(draw: st.DrawFn) -> torch.Generator:
    return torch.Generator().manual_seed(draw(_SEEDS))


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
    gen = _generator(draw)
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
        _int_range(batch, "batch"),
        _int_range(channels, "channels"),
        _int_range(height, "height"),
        _int_range(width, "width"),
    )
    kind_list = tuple(kinds)
    if not kind_list or any(k not in _KINDS for k in kind_list):
        raise StochRobustTypeError(f"kinds: expected a non-empty subset of {_KINDS}, got {kinds!r}")
    return _images(sizes, _dtypes(dtype), kind_list)


def _norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-row norm, the larger of its value in the tensor's dtype and in float64."""
    out = []
    for t in (delta.flatten(1), delta.flatten(1).double()):
        if norm == "l2":
            out.append(t.norm(dim=1).double())
        elif norm == "l1":
            out.append(t.abs().sum(dim=1).double())
        else:
            out.append(t.abs().amax(dim=1).double())
    return torch.maximum(out[0], out[1])


def _inside(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Shrink rows (never grow them) until their norm is inside the ball in both precisions."""
    u = torch.finfo(delta.dtype).eps
    # L2/L1 norms sum many terms: keep a margin so any summation order finds them inside
    limit = eps if norm == "linf" else eps * (1 - 16 * u)
    for _ in range(64):
        n = _norms(delta, norm)
        over = n > limit
        if not bool(over.any()):
            return delta
        scale = torch.where(over, limit / n * (1 - 4 * u), torch.ones_like(n))
        delta = (delta.double() * scale.reshape(-1, *([1] * (delta.ndim - 1)))).to(delta.dtype)
    return torch.zeros_like(delta)  # pragma: no cover - not reached for finite eps


@st.composite
def _perturbations(
    draw: st.DrawFn, shape: tuple[int, ...], eps: float, norm: str, dtype: torch.dtype
) -> torch.Tensor:
    kind = draw(st.sampled_from(("interior", "boundary", "vertex", "zero")))
    if kind == "zero" or eps == 0:
        return torch.zeros(shape, dtype=dtype)
    gen = _generator(draw)
    rows, d = shape[0], math.prod(shape[1:])
    if kind == "vertex":  # ±ε·e_i (L2, L1) or a corner of the cube (L∞)
        if norm == "linf":
            base = torch.where(torch.rand(rows, d, generator=gen) < 0.5, -1.0, 1.0).double()
        else:
            base = torch.zeros(rows, d, dtype=torch.float64)
            idx = torch.randint(d, (rows, 1), generator=gen)
            signs = torch.where(torch.rand(rows, 1, generator=gen) < 0.5, -1.0, 1.0).double()
            base.scatter_(1, idx, signs)
    else:
        base = torch.randn(rows, d, generator=gen, dtype=torch.float64)
        if norm == "l1":
            base = base * torch.rand(rows, d, generator=gen, dtype=torch.float64)
        if norm == "l2":
            size = base.norm(dim=1)
        elif norm == "l1":
            size = base.abs().sum(dim=1)
        else:
            size = base.abs().amax(dim=1)
        base = base / size.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(1)
    frac = 1.0 if kind != "interior" else draw(st.floats(0.0, 1.0))
    delta = (base * (eps * frac)).reshape(shape).to(dtype)
    return _inside(delta, eps, norm)


def perturbations(
    shape: Sequence[int],
    eps: float,
    norm: str = "l2",
    *,
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """Perturbations ``δ`` of the given shape inside the ``norm`` ball of radius ``eps``.

    Per sample (the first dimension is the batch), ``‖δ_b‖ ≤ eps`` holds exactly when the
    norm is computed in float64 and in ``dtype``; for L2 and L1, whose norms sum many
    terms, the radius is kept ``16`` units in the last place of ``dtype`` below ``eps`` so
    that any summation order finds ``δ`` inside. Kinds: ``"interior"`` (a random direction
    at a random fraction of the radius), ``"boundary"`` (on the sphere, up to that margin),
    ``"vertex"`` (``±ε·eᵢ`` on L2/L1, a corner ``±ε`` of the cube on L∞) and ``"zero"``.
    Combine with :func:`images` by ``images().flatmap(lambda x: perturbations(x.shape,
    eps))``.

    Args:
        shape: the full shape ``(B, ...)``.
        eps: the radius, ``≥ 0``.
        norm: ``"l2"``, ``"linf"`` or ``"l1"``.
        dtype: a floating dtype.

    Returns:
        A strategy of CPU tensors of ``shape``.

    Raises:
        StochRobustTypeError: a malformed shape or dtype.
        RangeError: an unknown norm, ``eps < 0`` or an empty shape.
        NonFiniteError: ``eps`` is not finite.

    References:
        [O23] eq. 6 (the ε-ball of the attack); docs: sensitivity.md.

    Examples:
        >>> from hypothesis import given
        >>> @given(perturbations((3, 1, 4, 4), eps=0.5, norm="l1"))
        ... def test_inside(d):
        ...     assert bool((d.flatten(1).abs().sum(1) <= 0.5).all())
        >>> test_inside()
    """
    n = check_ball(norm, "norm")
    e = check_positive(eps, "eps", allow_zero=True)
    if isinstance(shape, int) or not isinstance(shape, Sequence) or len(shape) < 1:
        raise StochRobustTypeError(f"shape: expected a shape (B, ...), got {describe(shape)}")
    shp = tuple(check_int(s, "shape", minimum=1) for s in shape)
    return _perturbations(shp, e, n, _dtypes(dtype)[0])


def _fraction(value: object, name: str) -> tuple[float, float]:
    if isinstance(value, tuple) and len(value) == 2:
        lo = check_number(value[0], name, low=0.0, high=1.0)
        hi = check_number(value[1], name, low=0.0, high=1.0)
        if lo > hi:
            raise RangeError(f"{name}: expected a range (low, high) with low <= high, got {value}")
        return lo, hi
    v = check_number(value, name, low=0.0, high=1.0)
    return v, v


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
    hidden = torch.randperm(h * w, generator=_generator(draw))[:k]
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
        fr = _fraction(masked_fraction, "masked_fraction")
        fractions = {"random": fr, "upper": fr}
    return _masks(_int_range(height, "height"), _int_range(width, "width"), kinds, fractions)


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
        (_int_range(lr_height, "lr_height"), _int_range(lr_width, "lr_width")),
        _int_range(batch, "batch"),
        _int_range(channels, "channels"),
        _dtypes(dtype),
    )
