"""Samplers of the 2-D toy restoration problems of [O23].

Every problem has a source ``X = (X⁽¹⁾, X⁽²⁾)`` in the plane and the deterministic,
non-invertible degradation ``Y = D(X) = X⁽¹⁾`` (keep the first coordinate). Each sampler
returns the pair ``(x, y)`` with ``x`` of shape ``(N, 2)`` and ``y = x[:, :1]`` of shape
``(N, 1)``, drawn exactly (no discretisation) with an explicit :class:`torch.Generator`.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023: §4 (disk), App. B.1 (ellipse ring),
    App. C (square).
"""

from __future__ import annotations

import math

import torch

from stochrobust._checks import check_generator, check_int, check_positive, describe
from stochrobust.errors import RangeError, StochRobustTypeError

__all__ = [
    "ELLIPSE_INNER",
    "ELLIPSE_OUTER",
    "ellipse_ring_area",
    "sample_disk",
    "sample_ellipse_ring",
    "sample_square",
]

ELLIPSE_OUTER = (1.0, 0.6)
"""Default semi-axes ``(a, b)`` of the outer ellipse of the ring (horizontal, vertical)."""

ELLIPSE_INNER = (0.6, 0.3)
"""Default semi-axes of the inner ellipse: the "forbidden" hole of [O23] App. B.1."""


def _uniform(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> torch.Tensor:
    """``U[0, 1)`` draws on the generator's device, moved to ``device``."""
    dtype = dtype if dtype is not None else torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise StochRobustTypeError(f"dtype: expected a floating-point dtype, got {dtype}")
    draw_on = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, dtype=dtype, device=draw_on)
    return u.to(device) if device is not None else u


def _pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x, x[:, :1].clone()


def sample_disk(
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``X`` uniformly on the unit disk and observe ``Y = X⁽¹⁾``.

    Exact polar sampling: radius ``sqrt(U)``, angle ``2πV`` with ``U, V ~ U[0, 1)``. The
    marginal law of ``Y`` is the semicircle law with density ``(2/π)·sqrt(1 − y²)``, and
    the posterior ``X⁽²⁾ | Y = y`` is uniform on ``[−sqrt(1 − y²), sqrt(1 − y²)]``.

    Args:
        n: number of data points (``≥ 1``; the glossary's data-set size).
        generator: random generator (its device is where the draw happens).
        dtype: floating-point dtype (default: ``torch.get_default_dtype()``).
        device: device of the result (default: the generator's, else the CPU).

    Returns:
        ``(x, y)``: the sources and their degradations.

    Raises:
        StochRobustTypeError: ``n`` is not an integer, ``generator`` not a generator, or
            ``dtype`` not a floating-point dtype.
        RangeError: ``n < 1``.

    Shape:
        - ``x``: ``(n, 2)``; ``y``: ``(n, 1)``.

    References:
        [O23] §4: "X is uniformly distributed on a disk with radius 1.0 centered at (0, 0),
        and let Y = X⁽¹⁾".

    Examples:
        >>> x, y = sample_disk(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape, bool((x.norm(dim=1) <= 1).all()), torch.equal(y[:, 0], x[:, 0])
        (torch.Size([1000, 2]), torch.Size([1000, 1]), True, True)
    """
    n = check_int(n, "n", minimum=1)
    check_generator(generator)
    u = _uniform((n, 2), generator, dtype, device)
    r = u[:, 0].sqrt()
    theta = (2 * math.pi) * u[:, 1]
    return _pair(torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1))


def _check_axes(axes: object, name: str) -> tuple[float, float]:
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise StochRobustTypeError(
            f"{name}: expected a pair (a, b) of semi-axes, got {describe(axes)}"
        )
    return check_positive(axes[0], f"{name}[0]"), check_positive(axes[1], f"{name}[1]")


def ellipse_ring_area(
    outer: tuple[float, float] = ELLIPSE_OUTER, inner: tuple[float, float] = ELLIPSE_INNER
) -> float:
    """Area ``π(a·b − a'·b')`` of the ring between two concentric, axis-aligned ellipses.

    Args:
        outer: semi-axes ``(a, b)`` of the outer ellipse.
        inner: semi-axes ``(a', b')`` of the inner ellipse, ``a' < a`` and ``b' < b``.

    Returns:
        The area.

    Raises:
        StochRobustTypeError: an argument is not a pair of numbers.
        RangeError: a semi-axis is not positive, or the inner ellipse is not strictly
            inside the outer one.

    References:
        [O23] App. B.1 (the support of ``p_X`` in the precision/recall trade-off example).

    Examples:
        >>> round(ellipse_ring_area((1.0, 1.0), (0.5, 0.5)) / math.pi, 6)
        0.75
    """
    (a, b), (ai, bi) = _check_axes(outer, "outer"), _check_axes(inner, "inner")
    if not (ai < a and bi < b):
        raise RangeError(
            f"inner: expected semi-axes strictly smaller than outer {(a, b)}, got {(ai, bi)}"
        )
    return math.pi * (a * b - ai * bi)


def sample_ellipse_ring(
    n: int,
    *,
    outer: tuple[float, float] = ELLIPSE_OUTER,
    inner: tuple[float, float] = ELLIPSE_INNER,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``X`` uniformly between two concentric ellipses and observe ``Y = X⁽¹⁾``.

    The ring is ``{x : (x₁/a')² + (x₂/b')² ≥ 1 and (x₁/a)² + (x₂/b)² ≤ 1}``. The defaults,
    outer semi-axes ``(1.0, 0.6)`` and inner ``(0.6, 0.3)``, give a band 0.3 thick above
    and below the hole and 0.4 thick at the sides: for ``|y| < 0.6`` the posterior has two
    separate intervals, so a continuous deterministic estimator must either stay on one
    side (losing recall) or cross the hole (losing precision). [O23] gives no numbers for
    its figure; these axes are our choice.

    Sampling is exact: points drawn uniformly in the bounding box ``[−a, a] × [−b, b]``
    are kept when they fall in the ring (rejection, vectorised rounds); the generator's
    state fully determines the result.

    Args:
        n: number of data points (``≥ 1``; the glossary's data-set size).
        outer: semi-axes ``(a, b)`` of the outer ellipse.
        inner: semi-axes ``(a', b')`` of the hole, ``a' < a``, ``b' < b``.
        generator: random generator.
        dtype: floating-point dtype (default: ``torch.get_default_dtype()``).
        device: device of the result.

    Returns:
        ``(x, y)``: the sources and their degradations.

    Raises:
        StochRobustTypeError: wrong argument types.
        RangeError: ``n < 1``, non-positive semi-axes or an inner ellipse not strictly
            inside the outer one.

    Shape:
        - ``x``: ``(n, 2)``; ``y``: ``(n, 1)``.

    References:
        [O23] App. B.1, Fig. 5: "X ... supported on the set of all points between two
        concentric ellipses", uniform on its support.

    Examples:
        >>> x, y = sample_ellipse_ring(500, generator=torch.Generator().manual_seed(0))
        >>> q_out = (x[:, 0] / 1.0) ** 2 + (x[:, 1] / 0.6) ** 2
        >>> q_in = (x[:, 0] / 0.6) ** 2 + (x[:, 1] / 0.3) ** 2
        >>> x.shape, bool((q_out <= 1).all() and (q_in >= 1).all())
        (torch.Size([500, 2]), True)
    """
    n = check_int(n, "n", minimum=1)
    check_generator(generator)
    ring = ellipse_ring_area(outer, inner)
    a, b = float(outer[0]), float(outer[1])
    ai, bi = float(inner[0]), float(inner[1])
    accept = ring / (4 * a * b)
    kept: list[torch.Tensor] = []
    total = 0
    while total < n:
        # Draw enough for the remaining count with high probability; loop on a shortfall.
        want = n - total
        draws = int(want / accept + 4 * math.sqrt(want / accept) + 16)
        u = _uniform((draws, 2), generator, dtype, device)
        pts = torch.stack([(2 * u[:, 0] - 1) * a, (2 * u[:, 1] - 1) * b], dim=1)
        q_out = (pts[:, 0] / a) ** 2 + (pts[:, 1] / b) ** 2
        q_in = (pts[:, 0] / ai) ** 2 + (pts[:, 1] / bi) ** 2
        good = pts[(q_out <= 1) & (q_in >= 1)][:want]
        kept.append(good)
        total += good.shape[0]
    return _pair(torch.cat(kept, dim=0))


def sample_square(
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``X`` uniformly on ``[0, 1]²`` and observe ``Y = X⁽¹⁾``.

    Args:
        n: number of data points (``≥ 1``; the glossary's data-set size).
        generator: random generator.
        dtype: floating-point dtype (default: ``torch.get_default_dtype()``).
        device: device of the result.

    Returns:
        ``(x, y)``: the sources and their degradations.

    Raises:
        StochRobustTypeError: wrong argument types.
        RangeError: ``n < 1``.

    Shape:
        - ``x``: ``(n, 2)``; ``y``: ``(n, 1)``.

    References:
        [O23] App. C: ``X⁽¹⁾, X⁽²⁾ ~ U(0, 1)`` independent, ``Y = X⁽¹⁾``.

    Examples:
        >>> x, y = sample_square(4, generator=torch.Generator().manual_seed(0))
        >>> bool(((x >= 0) & (x <= 1)).all()), y.shape
        (True, torch.Size([4, 1]))
    """
    n = check_int(n, "n", minimum=1)
    check_generator(generator)
    return _pair(_uniform((n, 2), generator, dtype, device))
